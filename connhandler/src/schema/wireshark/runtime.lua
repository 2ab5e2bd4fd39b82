-- ---- The runtime: the same in every dissector this generator writes. ----

local f_msg = ProtoField.string(ABBREV .. ".msg", "Message")
local f_id = ProtoField.uint64(ABBREV .. ".id", "Id", base.HEX)
local f_body = ProtoField.bytes(ABBREV .. ".body", "Body")
local f_json = ProtoField.string(ABBREV .. ".json", "JSON body")
local ef_malformed = ProtoExpert.new(ABBREV .. ".malformed", "Malformed message",
    expert.group.MALFORMED, expert.severity.ERROR)
local ef_unknown = ProtoExpert.new(ABBREV .. ".unknown", "Unknown message id",
    expert.group.UNDECODED, expert.severity.WARN)
local ef_opaque = ProtoExpert.new(ABBREV .. ".opaque", "A type of the program's own",
    expert.group.UNDECODED, expert.severity.NOTE)
local ef_framing = ProtoExpert.new(ABBREV .. ".framing", "Broken framing",
    expert.group.MALFORMED, expert.severity.ERROR)

-- A reader over one message's bytes: a failure is an error value { at = FIELD, why = TEXT }.
local function fail(at, why)
    error({ at = at, why = why }, 0)
end

local function need(r, n, at)
    if n > r.len - r.pos then
        fail(at, n .. " bytes needed, " .. (r.len - r.pos) .. " left")
    end
    local range = r.tvb(r.pos, n)
    r.pos = r.pos + n
    return range
end

local function uint(r, n, le, at)
    local range = need(r, n, at)
    if n == 8 then
        if le then return range:le_uint64(), range end
        return range:uint64(), range
    end
    if le then return range:le_uint(), range end
    return range:uint(), range
end

local function add_uint(r, tree, field, n, le, at)
    local v, range = uint(r, n, le, at)
    tree:add(field, range, v)
    return v
end

local function add_int(r, tree, field, n, le, at)
    local range = need(r, n, at)
    local v
    if n == 8 then
        v = le and range:le_int64() or range:int64()
    else
        v = le and range:le_int() or range:int()
    end
    tree:add(field, range, v)
    return v
end

local function add_big(r, tree, field, le, at)
    local range = need(r, 16, at)
    tree:add(field, range):append_text(le and " (128 bits, little-endian)" or " (128 bits, big-endian)")
end

local function add_float(r, tree, field, n, le, at)
    local range = need(r, n, at)
    local v = le and range:le_float() or range:float()
    tree:add(field, range, v)
    return v
end

local function byte(r, at)
    return need(r, 1, at):uint()
end

local function add_bool(r, tree, field, at)
    local range = need(r, 1, at)
    local b = range:uint()
    if b > 1 then fail(at, "invalid bool " .. b) end
    tree:add(field, range, b == 1)
end

local function tag(r, at)
    local b = byte(r, at)
    if b > 1 then fail(at, "invalid option tag " .. b) end
    return b == 1
end

-- A length or count prefix, checked against what the bytes left can hold.
local function count(r, width, le, min, at)
    local n = uint(r, width, le, at)
    local left = r.len - r.pos
    if n * math.max(min, 1) > left then
        fail(at, "length " .. n .. " is more than the " .. left .. " bytes left can hold")
    end
    return n
end

local function valid_utf8(bytes)
    local i, n = 0, bytes:len()
    while i < n do
        local c = bytes:get_index(i)
        local more, low
        if c < 0x80 then more, low = 0, 0
        elseif c >= 0xc2 and c < 0xe0 then more, low = 1, 0x80
        elseif c >= 0xe0 and c < 0xf0 then more, low = 2, (c == 0xe0) and 0xa0 or 0x80
        elseif c >= 0xf0 and c < 0xf5 then more, low = 3, (c == 0xf0) and 0x90 or 0x80
        else return false end
        if i + more > n - 1 then return false end
        for k = 1, more do
            local d = bytes:get_index(i + k)
            local lo, hi = 0x80, 0xbf
            if k == 1 then
                lo = low
                if c == 0xed then hi = 0x9f end
                if c == 0xf4 then hi = 0x8f end
            end
            if d < lo or d > hi then return false end
        end
        i = i + 1 + more
    end
    return true
end

-- Text after a length prefix of `width` bytes (0: none, the rest of the message).
local function add_text(r, tree, field, width, le, at)
    local n = width == 0 and (r.len - r.pos) or count(r, width, le, 1, at)
    if n == 0 then
        tree:add(field, r.tvb(r.pos, 0), "")
        return ""
    end
    local range = need(r, n, at)
    if not valid_utf8(range:bytes()) then fail(at, "invalid UTF-8") end
    local s = range:string(ENC_UTF_8)
    tree:add(field, range, s)
    return s
end

-- Bytes after a length prefix of `width` bytes (0: the rest; negative: exactly -width).
local function add_bytes(r, tree, field, width, le, at)
    local n
    if width == 0 then n = r.len - r.pos
    elseif width < 0 then n = -width
    else n = count(r, width, le, 1, at) end
    if n == 0 then
        tree:add(field, r.tvb(r.pos, 0))
        return
    end
    tree:add(field, need(r, n, at))
end

-- A subtree for a compound value, its length set once read.
local function group(r, tree, label)
    local start = r.pos
    local item = tree:add(PROTO, r.tvb(start, 0), label)
    return item, start
end

local function close(r, item, start)
    item:set_len(r.pos - start)
end

-- A tree that takes everything and shows nothing (for a check without display).
local NULL_TREE = {}
NULL_TREE.__index = NULL_TREE
function NULL_TREE.add() return NULL_TREE end
function NULL_TREE.append_text() return NULL_TREE end
function NULL_TREE.set_len() return NULL_TREE end
function NULL_TREE.set_text() return NULL_TREE end
function NULL_TREE.add_proto_expert_info() return NULL_TREE end
function NULL_TREE.add_expert_info() return NULL_TREE end
