// The instrument: Explore's picture, every slider onto z and the 2-D pad, as one element.
//
// A slider move or a pad drag sends a "move" trigger ({moves: [[group, index, value]], seq});
// the rerun it causes answers with new `data`, and Streamlit calls this function again on the
// same parentElement. So the DOM is built once per set of sliders and only updated afterwards.
//
// At most two triggers are in flight, PACE_MS apart: moves made meanwhile wait and then go
// together. So while the browser takes in one answer (the data's `seq` is the last trigger
// applied) the server is already drawing the next, a drag gets a new picture as fast as the
// two can go, and there is never a queue of stale ones. An answer that has not come in
// STALLED_MS (its run failed, or was replaced) is given up on. Until a move is answered its
// slider keeps the hand's value: it is never pulled back to an older position.
//
// The address bar gets the picture's recipe with history.replaceState: a shareable link that
// needs no message of its own, and Back does not step through every move.

const PACE_MS = 40;
const STALLED_MS = 1000;
const PAD_STEP = 0.1;
const PAD_BIG_STEP = 0.5;

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

function rounded(v, step) {
  return Math.round(Math.round(v / step) * step * 100) / 100;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function slider(ui, group, index, spec) {
  const row = element("div", "slider");
  const id = `${ui.prefix}-${group.key}-${index}`;
  const head = element("div", "head");
  const label = element("label", "label", spec.label);
  label.htmlFor = id;
  head.append(label);
  if (spec.help) {
    const help = element("span", "help", "?");
    help.id = `${id}-help`;
    help.title = spec.help;
    help.tabIndex = 0;
    help.setAttribute("role", "note");
    help.setAttribute("aria-label", spec.help);
    head.append(help);
  }
  const readout = element("output", "readout");
  readout.htmlFor = id;
  head.append(readout);
  const input = element("input");
  Object.assign(input, { type: "range", id, min: -ui.span, max: ui.span, step: group.step });
  if (spec.help) input.setAttribute("aria-describedby", `${id}-help`);
  input.addEventListener("input", () => {
    const value = Number(input.value);
    readout.value = value.toFixed(2);
    ui.move(group.key, index, value);
  });
  row.append(head, input);
  return { input, readout, step: group.step };
}

function section(ui, group) {
  const box = group.fold ? element("details", "group folded") : element("section", "group");
  const title = element(group.fold ? "summary" : "div", "title", group.title);
  box.append(title);
  if (group.note) box.append(element("p", "note", group.note));
  const grid = element("div", "sliders");
  grid.style.gridTemplateColumns = `repeat(${group.columns}, minmax(0, 1fr))`;
  ui.sliders[group.key] = group.sliders.map((spec, index) => {
    const built = slider(ui, group, index, spec);
    grid.append(built.input.parentElement);
    return built;
  });
  box.append(grid);
  return box;
}

function buildPad(ui, canvas, readout) {
  const pad = { x: 0, y: 0, dragging: false };
  pad.draw = () => {
    const ratio = window.devicePixelRatio || 1;
    const side = canvas.clientWidth || 220;
    if (canvas.width !== Math.round(side * ratio)) {
      canvas.width = Math.round(side * ratio);
      canvas.height = Math.round(side * ratio);
    }
    const ctx = canvas.getContext("2d");
    const style = getComputedStyle(canvas);
    const line = style.getPropertyValue("--pad-line").trim() || "#888";
    const dot = style.getPropertyValue("--pad-dot").trim() || "#e07a5f";
    const w = canvas.width;
    ctx.clearRect(0, 0, w, w);
    ctx.strokeStyle = line;
    ctx.lineWidth = ratio;
    for (let i = 1; i < 6; i++) {
      const p = Math.round((i * w) / 6) + 0.5;
      ctx.globalAlpha = i === 3 ? 0.8 : 0.35;
      ctx.beginPath(); ctx.moveTo(p, 0); ctx.lineTo(p, w); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, p); ctx.lineTo(w, p); ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = dot;
    ctx.beginPath();
    ctx.arc(((pad.x / ui.span + 1) / 2) * w, ((1 - pad.y / ui.span) / 2) * w, 7 * ratio, 0, 2 * Math.PI);
    ctx.fill();
    readout.textContent = `${pad.x.toFixed(2)}, ${pad.y.toFixed(2)}`;
  };
  const moveTo = (x, y) => {
    pad.x = rounded(clamp(x, -ui.span, ui.span), 0.01);
    pad.y = rounded(clamp(y, -ui.span, ui.span), 0.01);
    pad.draw();
    ui.padMoved(pad.x, pad.y);
  };
  const fromPointer = (event) => {
    const rect = canvas.getBoundingClientRect();
    const u = clamp((event.clientX - rect.left) / rect.width, 0, 1);
    const v = clamp((event.clientY - rect.top) / rect.height, 0, 1);
    moveTo((u * 2 - 1) * ui.span, (1 - v * 2) * ui.span);
  };
  canvas.addEventListener("pointerdown", (event) => {
    pad.dragging = true;
    canvas.setPointerCapture(event.pointerId);
    fromPointer(event);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (pad.dragging) fromPointer(event);
  });
  const release = (event) => {
    if (!pad.dragging) return;
    pad.dragging = false;
    fromPointer(event);
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? PAD_BIG_STEP : PAD_STEP;
    const arrows = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    const move = arrows[event.key];
    if (!move) return;
    event.preventDefault();
    moveTo(pad.x + move[0], pad.y + move[1]);
  });
  new ResizeObserver(() => pad.draw()).observe(canvas);
  return pad;
}

function build(root) {
  const ui = {
    root,
    prefix: `instrument-${Math.random().toString(36).slice(2, 8)}`,
    controls: root.querySelector(".controls"),
    picture: root.querySelector("img.picture"),
    padBox: root.querySelector(".pad"),
    sliders: {},
    signature: null,
    moves: new Map(), // "group index" -> {move: [group, index, value], sent: seq or 0}, in order
    seq: 0,
    inFlight: [], // [seq, sent at] of the triggers awaiting their answers, oldest first
    timer: null,
    span: 3,
    padGroup: null,
  };
  ui.send = () => {
    clearTimeout(ui.timer);
    ui.timer = null;
    const entries = [...ui.moves.values()];
    if (!entries.some((entry) => entry.sent === 0)) return;
    const now = performance.now();
    if (ui.inFlight.length && now - ui.inFlight[0][1] >= STALLED_MS) ui.inFlight = [];
    const wait = ui.inFlight.length === 0 ? 0 : ui.inFlight.length === 1
      ? Math.max(0, PACE_MS - (now - ui.inFlight[0][1]))
      : STALLED_MS - (now - ui.inFlight[0][1]);
    if (wait > 0) {
      ui.timer = setTimeout(ui.send, wait);
      return;
    }
    ui.seq = Math.max(ui.seq + 1, Date.now()); // above any earlier page's
    ui.inFlight.push([ui.seq, now]);
    entries.forEach((entry) => (entry.sent = ui.seq));
    ui.setTriggerValue("move", { moves: entries.map((entry) => entry.move), seq: ui.seq });
  };
  ui.answered = (seq) => {
    for (const [key, entry] of ui.moves) if (entry.sent !== 0 && entry.sent <= seq) ui.moves.delete(key);
    ui.inFlight = ui.inFlight.filter(([sent]) => sent > seq);
  };
  ui.held = (group, index) => ui.moves.has(`${group} ${index}`);
  ui.move = (group, index, value) => {
    const key = `${group} ${index}`;
    ui.moves.delete(key); // to the end: moves are applied in the order they were made
    ui.moves.set(key, { move: [group, index, value], sent: 0 });
    if (group === ui.padGroup && index < 2) {
      ui.pad[index === 0 ? "x" : "y"] = value;
      ui.pad.draw();
    }
    ui.send();
  };
  ui.padMoved = (x, y) => {
    const pair = ui.sliders[ui.padGroup];
    [x, y].forEach((value, index) => {
      pair[index].input.value = value;
      pair[index].readout.value = value.toFixed(2);
      ui.move(ui.padGroup, index, value);
    });
  };
  ui.pad = buildPad(ui, root.querySelector(".pad canvas"), root.querySelector(".pad .readout"));
  return ui;
}

function layout(ui, data) {
  const signature = JSON.stringify([data.span, data.pad, data.groups.map((g) => [g.key, g.title, g.note, g.fold, g.step, g.columns, g.sliders.map((s) => [s.label, s.help])])]);
  if (signature === ui.signature) return;
  const open = new Set([...ui.controls.querySelectorAll("details[open]")].map((d) => d.dataset.key));
  ui.signature = signature;
  ui.sliders = {};
  ui.moves.clear();
  ui.controls.replaceChildren(
    ...data.groups.map((group) => {
      const box = section(ui, group);
      box.dataset.key = group.key;
      if (group.fold && open.has(group.key)) box.open = true;
      return box;
    })
  );
  ui.padGroup = data.pad ? data.pad.group : null;
  ui.padBox.hidden = !data.pad;
  if (data.pad) {
    const [x, y] = data.pad.labels;
    ui.root.querySelector(".pad .label-x").textContent = `→ ${x}`;
    ui.root.querySelector(".pad .label-y").textContent = `↑ ${y}`;
    ui.root.querySelector(".pad canvas").setAttribute("aria-label", `${x} and ${y}`);
  }
}

function showValues(ui, data) {
  for (const group of data.groups) {
    group.sliders.forEach((spec, index) => {
      if (ui.held(group.key, index)) return;
      const built = ui.sliders[group.key][index];
      built.input.value = spec.value;
      built.readout.value = Number(spec.value).toFixed(2);
    });
  }
  if (ui.padGroup !== null && !ui.pad.dragging && !ui.held(ui.padGroup, 0) && !ui.held(ui.padGroup, 1)) {
    const [x, y] = ui.sliders[ui.padGroup];
    ui.pad.x = Number(x.input.value);
    ui.pad.y = Number(y.input.value);
    ui.pad.draw();
  }
}

function showAddress(query) {
  const url = new URL(window.location.href);
  if (url.searchParams.get("r") === query) return;
  url.searchParams.set("r", query);
  window.history.replaceState(window.history.state, "", url);
}

export default function (component) {
  const { parentElement, setTriggerValue } = component;
  const data = JSON.parse(component.data.json);
  const root = parentElement.querySelector(".studio-instrument");
  root.ui ??= build(root);
  const ui = root.ui;
  ui.setTriggerValue = setTriggerValue;
  ui.span = data.span;
  layout(ui, data);
  ui.answered(data.seq);
  showValues(ui, data);
  if (ui.picture.getAttribute("src") !== data.image) ui.picture.src = data.image;
  ui.picture.style.width = `${data.width}px`;
  ui.picture.alt = data.alt;
  showAddress(data.query);
  ui.send(); // the moves made while this answer was on its way
}
