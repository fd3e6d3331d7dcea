"""Gallery: the pictures you kept, each one click away from Explore."""

from __future__ import annotations

import streamlit as st

from studio.errors import StudioError
from studio.gallery import Favourite, gallery_dir, list_favourites, remove_favourite
from studio.ui.pages import explore

COLUMNS = 4


def _tile(favourite: Favourite) -> None:
    recipe = favourite.recipe
    with st.container(border=True):
        st.image(str(favourite.png_path), width="stretch")
        st.caption(
            f"**{favourite.title or recipe.model}** · {recipe.size}px · "
            f"{favourite.created[:16].replace('T', ' ')}"
        )
        if st.button(
            "Open in Explore",
            key=f"gallery_open_{favourite.id}",
            icon=":material/explore:",
            help="the picture back in Explore, sliders and all",
            width="stretch",
        ):
            explore.open_recipe(recipe)
            st.switch_page(st.Page(explore.page, url_path=explore.URL_PATH))
        with st.container(horizontal=True, gap="small"):
            st.download_button(
                "PNG",
                data=favourite.png,
                file_name=f"{favourite.id}.png",
                mime="image/png",
                key=f"gallery_download_{favourite.id}",
                icon=":material/download:",
                on_click="ignore",
                width="stretch",
            )
            st.button(
                "Remove",
                key=f"gallery_remove_{favourite.id}",
                icon=":material/delete:",
                on_click=_remove,
                args=(favourite.id,),
                width="stretch",
            )


def _remove(favourite_id: str) -> None:
    try:
        remove_favourite(favourite_id)
    except StudioError as err:
        st.session_state["gallery_notice"] = str(err)
        return
    st.toast("Removed from the Gallery", icon=":material/delete:")


def page() -> None:
    st.title("Gallery")
    notice = st.session_state.pop("gallery_notice", None)
    if notice:
        st.error(notice)
    skipped: list[str] = []
    favourites = list_favourites(on_skip=lambda path, err: skipped.append(f"{path.name} ({err})"))
    if skipped:
        st.warning(f"Passed over, unreadable: {'; '.join(skipped)}", icon=":material/broken_image:")
    if not favourites:
        st.info(
            "Nothing kept yet. In **Explore**, press **Keep** under a picture you like: it is "
            "saved here, in your studio folder, and stays across restarts.",
            icon=":material/photo_library:",
        )
        st.page_link(
            st.Page(explore.page, url_path=explore.URL_PATH),
            label="Go to Explore",
            icon=":material/explore:",
        )
        return
    st.caption(
        f"{len(favourites)} kept in {gallery_dir()}. Each PNG carries its recipe: "
        "opening it (here, or by dropping it onto Explore) brings back the exact picture."
    )
    for start in range(0, len(favourites), COLUMNS):
        for column, favourite in zip(
            st.columns(COLUMNS), favourites[start : start + COLUMNS], strict=False
        ):
            with column:
                _tile(favourite)
