-- ---- Messages, the framings and the registration. ----

-- Whether a message goes to the server (the document's peer kind receives it).
local function to_server(pinfo)
    local p = PROTO.prefs
    local dst = pinfo.dst_port
    return (p.port ~= 0 and dst == p.port) or (p.tls_port ~= 0 and dst == p.tls_port)
        or (p.ws_port ~= 0 and dst == p.ws_port)
end

-- Dissects one whole message in `tvb`; a malformed one gets an expert-info error.
local function dissect_message(tvb, pinfo, tree, recv)
    local item = tree:add(PROTO, tvb(), PROTOCOL .. " message")
    local r = { tvb = tvb, pos = 0, len = tvb:len(), pinfo = pinfo }
    local ok, result = pcall(function()
        local name = (recv and READ_RECV or READ_SEND)(r, item)
        if r.pos ~= r.len then
            fail("message", (r.len - r.pos) .. " trailing bytes after the message")
        end
        return name
    end)
    if ok then
        item:add(f_msg, tvb(0, 0), result)
        item:append_text(": " .. result)
        pinfo.cols.info:append(result .. " ")
    else
        local why = type(result) == "table" and (result.at .. ": " .. result.why) or tostring(result)
        item:append_text(" [Malformed: " .. why .. "]")
        item:add_proto_expert_info(ef_malformed, why)
        pinfo.cols.info:append("[Malformed] ")
    end
end

-- Whether `bytes` decode as a whole message of a kind that tells its own end.
local function whole(bytes, recv)
    local tvb = bytes:tvb("Message (checked)")
    local r = { tvb = tvb, pos = 0, len = tvb:len() }
    local ok = pcall(function()
        (recv and READ_RECV or READ_SEND)(r, NULL_TREE)
        if r.pos ~= r.len or r.rest then fail("message", "not whole") end
    end)
    return ok
end

-- A byte stream: messages cut by the protocol's framing, reassembled across segments
-- (and across TcpMessage chunks).
local function dissect_stream(tvb, pinfo, tree)
    pinfo.cols.protocol = PROTO.name:upper()
    local recv = to_server(pinfo)
    local offset, len = 0, tvb:len()
    while offset < len do
        if FRAMING == "tcpmessage" then
            local at, parts, chunks, last = offset, ByteArray.new(), 0, nil
            while true do
                if len - at < 2 then
                    -- The next chunk's header, exactly: TCP then hands on what follows.
                    pinfo.desegment_offset = offset
                    pinfo.desegment_len = 2 - (len - at)
                    return len
                end
                local h = tvb(at, 2):le_uint()
                if h > MAX_MESSAGE_SIZE then
                    local item = tree:add(PROTO, tvb(at, 2), PROTOCOL .. " framing")
                    item:add_proto_expert_info(ef_framing,
                        "chunk length " .. h .. " exceeds max_message_size " .. MAX_MESSAGE_SIZE)
                    return len
                end
                local size = (h == 0) and MAX_MESSAGE_SIZE or h
                if len - at - 2 < size then
                    pinfo.desegment_offset = offset
                    pinfo.desegment_len = size - (len - at - 2)
                    return len
                end
                parts:append(tvb(at + 2, size):bytes())
                chunks = chunks + 1
                last = { at = at + 2, size = size }
                at = at + 2 + size
                if h ~= 0 or whole(parts, recv) then break end
            end
            local message
            if chunks == 1 then
                message = tvb(last.at, last.size):tvb()
            else
                message = parts:tvb("Message (" .. chunks .. " chunks)")
            end
            dissect_message(message, pinfo, tree, recv)
            offset = at
        else
            local hs = PANDA3D_HEADER_SIZE
            if len - offset < hs then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = hs - (len - offset)
                return len
            end
            local n = tvb(offset, hs):le_uint()
            if len - offset - hs < n then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = n - (len - offset - hs)
                return len
            end
            if n == 0 then
                tree:add(PROTO, tvb(offset, hs), PROTOCOL .. ": an empty datagram")
            else
                dissect_message(tvb(offset + hs, n):tvb(), pinfo, tree, recv)
            end
            offset = offset + hs + n
        end
    end
    return len
end

function PROTO.dissector(tvb, pinfo, tree)
    return dissect_stream(tvb, pinfo, tree)
end

-- Over WebSocket, each binary WebSocket message is one message.
local ws_proto = Proto(ABBREV .. "_ws", PROTOCOL .. " over WebSocket")
function ws_proto.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = PROTO.name:upper()
    dissect_message(tvb, pinfo, tree, to_server(pinfo))
    return tvb:len()
end

PROTO.prefs.port = Pref.uint("TCP port", 0, "The server's port, plain TCP (0: none)")
PROTO.prefs.tls_port = Pref.uint("TLS port", 0,
    "The server's port over TLS (decrypted with a key log file, tls.keylog_file)")
PROTO.prefs.ws_port = Pref.uint("WebSocket port", 0, "The server's port over WebSocket")

local registered = {}
local function register()
    for table_name, port in pairs(registered) do
        DissectorTable.get(table_name):remove(port, table_name == "ws.port" and ws_proto or PROTO)
    end
    registered = {}
    local p = PROTO.prefs
    for table_name, port in pairs({ ["tcp.port"] = p.port, ["tls.port"] = p.tls_port, ["ws.port"] = p.ws_port }) do
        if port ~= 0 then
            DissectorTable.get(table_name):add(port, table_name == "ws.port" and ws_proto or PROTO)
            registered[table_name] = port
        end
    end
end
PROTO.prefs_changed = register
DissectorTable.get("tcp.port"):add_for_decode_as(PROTO)
register()
