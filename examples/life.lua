-- Prompt: "write a Lua script that plays Conway's Game of Life from a fixed starting
-- soup, cells fading out as they die, and writes raw video frames to stdout"
--
-- The grid is seeded from a Park-Miller generator with a fixed seed, so every run
-- shows the same game. Cells are square blocks of pixels; a row of cells becomes one
-- pixel row string that is written as many times as the cell is tall. Frames go to
-- stdout in PIX_FMT (rgb24, bgr24 or gray); progress goes to stderr.

local W = tonumber(os.getenv("WIDTH") or "640")
local H = tonumber(os.getenv("HEIGHT") or "360")
local FPS = tonumber(os.getenv("FPS") or "30")
local FRAMES = tonumber(os.getenv("FRAMES") or tostring(FPS * 5))
local PIX_FMT = os.getenv("PIX_FMT") or "rgb24"

if PIX_FMT ~= "rgb24" and PIX_FMT ~= "bgr24" and PIX_FMT ~= "gray" then
  io.stderr:write("life.lua: unsupported PIX_FMT '" .. PIX_FMT .. "' (use rgb24, bgr24 or gray)\n")
  os.exit(1)
end
local BPP = (PIX_FMT == "gray") and 1 or 3

local CELL = math.max(2, math.floor(math.min(W, H) / 60))
local GW = math.ceil(W / CELL)
local GH = math.ceil(H / CELL)

local seed = 42
local function rand()
  seed = (seed * 16807) % 2147483647
  return seed / 2147483647
end

-- Cell state: 0 dead for long, 1..7 fading after death, 8 alive.
local ALIVE = 8
local grid = {}
for y = 1, GH do
  grid[y] = {}
  for x = 1, GW do
    grid[y][x] = (rand() < 0.3) and ALIVE or 0
  end
end

-- One pixel string per state, already in PIX_FMT and CELL pixels wide.
local blocks = {}
for s = 0, ALIVE do
  local r, g, b
  if s == ALIVE then
    r, g, b = 120, 255, 140
  else
    local k = s / ALIVE
    r, g, b = math.floor(10 + 60 * k), math.floor(14 + 90 * k), math.floor(30 + 120 * k)
  end
  local px
  if PIX_FMT == "gray" then
    px = string.char(math.floor(0.299 * r + 0.587 * g + 0.114 * b))
  elseif PIX_FMT == "bgr24" then
    px = string.char(b, g, r)
  else
    px = string.char(r, g, b)
  end
  blocks[s] = string.rep(px, CELL)
end

local function step()
  local next = {}
  for y = 1, GH do
    local row = {}
    local up, mid, down = grid[(y - 2) % GH + 1], grid[y], grid[y % GH + 1]
    for x = 1, GW do
      local l, r = (x - 2) % GW + 1, x % GW + 1
      local n = 0
      for _, rr in ipairs({ up, mid, down }) do
        if rr[l] == ALIVE then n = n + 1 end
        if rr ~= mid and rr[x] == ALIVE then n = n + 1 end
        if rr[r] == ALIVE then n = n + 1 end
      end
      local s = mid[x]
      if s == ALIVE then
        row[x] = (n == 2 or n == 3) and ALIVE or ALIVE - 1
      elseif n == 3 then
        row[x] = ALIVE
      else
        row[x] = (s > 0) and s - 1 or 0
      end
    end
    next[y] = row
  end
  grid = next
end

local function write(s)
  -- nil means the reader closed the pipe: it has every frame it wants.
  if not io.stdout:write(s) then os.exit(0) end
end

io.stdout:setvbuf("full")
local rowbytes = W * BPP
for n = 0, FRAMES - 1 do
  local y_px = 0
  for y = 1, GH do
    local parts = {}
    for x = 1, GW do parts[x] = blocks[grid[y][x]] end
    local line = table.concat(parts):sub(1, rowbytes)
    for _ = 1, math.min(CELL, H - y_px) do write(line) end
    y_px = y_px + CELL
  end
  if n % math.max(1, FPS) == 0 then
    io.stderr:write(string.format("life.lua: frame %d/%d\n", n, FRAMES))
  end
  step()
end
io.stdout:flush()
