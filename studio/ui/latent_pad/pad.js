// A 2-D latent pad: drag the dot (or use the arrow keys) to move along two latent directions.
// While dragging, moves are sent as "move" triggers at most every `throttle_ms`, plus one on
// release, so the image under the sliders follows the pointer instead of waiting for a release.
// Streamlit calls this function again whenever `data` changes, on the same parentElement, so
// the pad is built once and only updated afterwards.

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

function buildPad(root) {
  const canvas = root.querySelector("canvas");
  const readout = root.querySelector(".readout");
  const pad = { canvas, readout, x: 0, y: 0, extent: 3, dragging: false, lastSent: 0, timer: null };

  pad.draw = () => {
    const ratio = window.devicePixelRatio || 1;
    const side = canvas.clientWidth || 220;
    if (canvas.width !== Math.round(side * ratio)) {
      canvas.width = Math.round(side * ratio);
      canvas.height = Math.round(side * ratio);
    }
    const ctx = canvas.getContext("2d");
    const style = getComputedStyle(root);
    const line = style.getPropertyValue("--pad-line").trim() || "#888";
    const dot = style.getPropertyValue("--pad-dot").trim() || "#e07a5f";
    const w = canvas.width;
    ctx.clearRect(0, 0, w, w);
    ctx.strokeStyle = line;
    ctx.globalAlpha = 0.35;
    ctx.lineWidth = ratio;
    for (let i = 1; i < 6; i++) {
      const p = Math.round((i * w) / 6) + 0.5;
      ctx.beginPath(); ctx.moveTo(p, 0); ctx.lineTo(p, w); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, p); ctx.lineTo(w, p); ctx.stroke();
    }
    ctx.globalAlpha = 0.8;
    ctx.beginPath(); ctx.moveTo(w / 2, 0); ctx.lineTo(w / 2, w); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, w / 2); ctx.lineTo(w, w / 2); ctx.stroke();
    ctx.globalAlpha = 1;
    const px = ((pad.x / pad.extent + 1) / 2) * w;
    const py = ((1 - pad.y / pad.extent) / 2) * w;
    ctx.fillStyle = dot;
    ctx.beginPath(); ctx.arc(px, py, 7 * ratio, 0, 2 * Math.PI); ctx.fill();
    readout.textContent = `${pad.x.toFixed(2)}, ${pad.y.toFixed(2)}`;
  };

  pad.send = (force) => {
    const now = performance.now();
    clearTimeout(pad.timer);
    const wait = pad.throttle - (now - pad.lastSent);
    if (force || wait <= 0) {
      pad.lastSent = now;
      pad.seq += 1;
      pad.setTriggerValue("move", { x: pad.x, y: pad.y, seq: pad.seq });
    } else {
      pad.timer = setTimeout(() => pad.send(true), wait);
    }
  };

  const fromPointer = (event) => {
    const rect = canvas.getBoundingClientRect();
    const u = clamp((event.clientX - rect.left) / rect.width, 0, 1);
    const v = clamp((event.clientY - rect.top) / rect.height, 0, 1);
    pad.x = Math.round((u * 2 - 1) * pad.extent * 100) / 100;
    pad.y = Math.round((1 - v * 2) * pad.extent * 100) / 100;
    pad.draw();
  };

  canvas.addEventListener("pointerdown", (event) => {
    pad.dragging = true;
    canvas.setPointerCapture(event.pointerId);
    fromPointer(event);
    pad.send(false);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!pad.dragging) return;
    fromPointer(event);
    pad.send(false);
  });
  const release = (event) => {
    if (!pad.dragging) return;
    pad.dragging = false;
    fromPointer(event);
    pad.send(true);
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 0.5 : 0.1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    pad.x = Math.round(clamp(pad.x + move[0], -pad.extent, pad.extent) * 100) / 100;
    pad.y = Math.round(clamp(pad.y + move[1], -pad.extent, pad.extent) * 100) / 100;
    pad.draw();
    pad.send(false);
  });
  new ResizeObserver(() => pad.draw()).observe(canvas);
  return pad;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".latent-pad");
  if (!root.pad) {
    root.pad = buildPad(root);
    root.pad.seq = 0;
  }
  const pad = root.pad;
  pad.setTriggerValue = setTriggerValue;
  pad.extent = data.extent;
  pad.throttle = data.throttle_ms;
  root.querySelector(".label-x").textContent = `→ ${data.x_label}`;
  root.querySelector(".label-y").textContent = `↑ ${data.y_label}`;
  pad.canvas.setAttribute("aria-label", `${data.x_label} and ${data.y_label}`);
  if (!pad.dragging) {
    pad.x = data.x;
    pad.y = data.y;
  }
  pad.draw();
}
