"""The yardstick for Explore's speed: a hand-tuned one-slider app, ``streamlit run`` this file.

One ``st.slider`` moves the first number of a fixed z; one ``st.image`` shows what a
random-weight ConvTranspose generator (3.6 M parameters, 64 px RGB) draws from it, at 256 px.
The generator is built once (``st.cache_resource``), the slider and image sit in a fragment,
the heap is frozen after the first run and torch keeps to one thread: all a small app can do to
be fast. ``python -m studio.bench.browser --against-toy`` times it beside the studio, with the
same selectors (the widget keys are Explore's).

A Streamlit script for the benchmark only (here, with the studio's other Streamlit code), run
by path and never imported by the studio.
"""

import gc

import numpy as np
import streamlit as st
import torch
from torch import nn

LATENT = 100
SHOWN_PX = 256

torch.set_num_threads(1)


@st.cache_resource
def generator() -> tuple[nn.Module, torch.Tensor]:
    """The network (1 -> 4 -> 8 -> 16 -> 32 -> 64 px) and the fixed z the slider moves."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.ConvTranspose2d(LATENT, 512, 4, 1, 0), nn.ReLU()]
    for wide, narrow in ((512, 256), (256, 128), (128, 64)):
        layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1), nn.ReLU()]
    layers += [nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers).eval(), torch.randn(1, LATENT, 1, 1)


@st.fragment
def studio() -> None:
    net, z = generator()
    with st.container(key="explore_instrument"):  # where the benchmark finds Explore's
        value = st.slider("z[0]", -3.0, 3.0, 0.0, 0.1)
        moved = z.clone()
        moved[0, 0] = value
        with torch.inference_mode():
            picture = net(moved)[0].permute(1, 2, 0)
        pixels = ((picture + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
        st.image(np.ascontiguousarray(pixels), width=SHOWN_PX)


st.set_page_config(page_title="Toy", layout="wide")
studio()
if not st.session_state.get("frozen"):
    gc.freeze()
    st.session_state["frozen"] = True
