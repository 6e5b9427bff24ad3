// Prompt: "in JavaScript (Node, no npm packages), draw a little solar system: a sun and
// three planets on circular orbits over a starfield, as raw video frames on stdout"
//
// Everything is drawn by hand into a Buffer: a starfield from a seeded generator (the
// same stars every run), orbit rings, filled discs. Frames go to stdout in PIX_FMT
// (rgb24, bgr24, rgba or gray); progress goes to stderr.
'use strict';

const W = parseInt(process.env.WIDTH || '640', 10);
const H = parseInt(process.env.HEIGHT || '360', 10);
const FPS = parseFloat(process.env.FPS || '30'); // 29.97 for 30000/1001
const FRAMES = parseInt(process.env.FRAMES || String(Math.round(FPS * 5)), 10);
const PIX_FMT = process.env.PIX_FMT || 'rgb24';

const BPP = { rgb24: 3, bgr24: 3, rgba: 4, gray: 1 }[PIX_FMT];
if (!BPP) {
  process.stderr.write(`orbits.js: unsupported PIX_FMT '${PIX_FMT}' (use rgb24, bgr24, rgba or gray)\n`);
  process.exit(1);
}

// The reader closing the pipe means it has every frame it wants.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// Park-Miller generator with a fixed seed: deterministic stars.
let seed = 20240607;
function rand() {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
}

const rgb = new Uint8Array(W * H * 3); // drawing surface, converted to PIX_FMT on output

function plot(x, y, c) {
  if (x < 0 || y < 0 || x >= W || y >= H) return;
  const i = (y * W + x) * 3;
  rgb[i] = c[0]; rgb[i + 1] = c[1]; rgb[i + 2] = c[2];
}

function disc(cx, cy, r, c) {
  for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
    for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) plot(x, y, c);
    }
  }
}

function ring(cx, cy, r, c) {
  const steps = Math.max(32, Math.ceil(2 * Math.PI * r));
  for (let k = 0; k < steps; k++) {
    const a = (2 * Math.PI * k) / steps;
    plot(Math.round(cx + r * Math.cos(a)), Math.round(cy + r * Math.sin(a)), c);
  }
}

const unit = Math.min(W, H);
const cx = W / 2;
const cy = H / 2;
const stars = [];
for (let k = 0; k < Math.floor((W * H) / 400); k++) {
  stars.push([Math.floor(rand() * W), Math.floor(rand() * H), 80 + Math.floor(rand() * 175)]);
}
const planets = [
  { orbit: 0.18, size: 0.025, period: 2.0, colour: [180, 180, 200] },
  { orbit: 0.30, size: 0.040, period: 3.5, colour: [70, 130, 255] },
  { orbit: 0.43, size: 0.035, period: 6.0, colour: [230, 90, 60] },
];

function draw(n) {
  rgb.fill(0);
  for (const [x, y, v] of stars) plot(x, y, [v, v, v]);
  const t = n / FPS;
  for (const p of planets) ring(cx, cy, p.orbit * unit, [40, 40, 60]);
  disc(cx, cy, unit * 0.08, [255, 200, 60]);
  for (const p of planets) {
    const a = (2 * Math.PI * t) / p.period;
    disc(cx + p.orbit * unit * Math.cos(a), cy + p.orbit * unit * Math.sin(a),
      Math.max(1.5, p.size * unit), p.colour);
  }
}

function toPixFmt() {
  const out = Buffer.allocUnsafe(W * H * BPP);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += BPP) {
    const r = rgb[i], g = rgb[i + 1], b = rgb[i + 2];
    if (PIX_FMT === 'gray') {
      out[j] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    } else if (PIX_FMT === 'bgr24') {
      out[j] = b; out[j + 1] = g; out[j + 2] = r;
    } else {
      out[j] = r; out[j + 1] = g; out[j + 2] = b;
      if (BPP === 4) out[j + 3] = 255;
    }
  }
  return out;
}

async function main() {
  for (let n = 0; n < FRAMES; n++) {
    draw(n);
    // Respect back-pressure: wait for 'drain' when the pipe is full.
    if (!process.stdout.write(toPixFmt())) {
      await new Promise((resolve) => process.stdout.once('drain', resolve));
    }
    if (n % Math.max(1, Math.round(FPS)) === 0) process.stderr.write(`orbits.js: frame ${n}/${FRAMES}\n`);
  }
}

main();
