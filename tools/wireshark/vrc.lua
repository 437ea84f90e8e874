-- SPDX-License-Identifier: GPL-2.0-or-later
-- Wireshark dissector for vrc frames (EtherType 0x88B5) and the PCIe TLPs they carry.
-- Layout: docs/protocol.md.  Load with: tshark -X lua_script:tools/wireshark/vrc.lua

local band, bor, bxor, rshift, lshift = bit32.band, bit32.bor, bit32.bxor, bit32.rshift, bit32.lshift

local vrc = Proto("vrc", "vrc PCIe over Ethernet")

local frame_types = { [1] = "DATA", [2] = "CTRL", [3] = "DISC" }
local ctrl_ops = { [1] = "HELLO", [2] = "HELLO_ACK", [3] = "ACK", [4] = "NAK",
                   [5] = "BYE", [6] = "PING", [7] = "PONG" }
local disc_ops = { [1] = "SOLICIT", [2] = "ANNOUNCE", [3] = "ASSIGN", [4] = "RELEASE", [5] = "ACK" }
local disc_status = { [0] = "ok", [1] = "stale generation", [2] = "no such function", [3] = "refused" }
local cpl_status = { [0] = "SC", [1] = "UR", [2] = "CRS", [4] = "CA" }
local msg_codes = { [0x20] = "Assert_INTA", [0x21] = "Assert_INTB", [0x22] = "Assert_INTC",
                    [0x23] = "Assert_INTD", [0x24] = "Deassert_INTA", [0x25] = "Deassert_INTB",
                    [0x26] = "Deassert_INTC", [0x27] = "Deassert_INTD",
                    [0x7f] = "Vendor_Defined Type 1" }
-- vrc's Vendor_Defined Type 1 messages (Vendor ID 0x1234), by bytes 12-15.
local vdm_names = { [0x48525354] = "HRST", [0x48494e54] = "HINT", [0x50555348] = "PUSH" }

local F = vrc.fields
F.version = ProtoField.uint8("vrc.version", "Version")
F.type = ProtoField.uint8("vrc.type", "Frame type", base.DEC, frame_types)
F.flags = ProtoField.uint16("vrc.flags", "Flags", base.HEX)
F.flag_ack = ProtoField.bool("vrc.flags.ack", "ACK valid", 16, nil, 0x0001)
F.flag_seq = ProtoField.bool("vrc.flags.seq", "Sequenced", 16, nil, 0x0002)
F.flag_resp = ProtoField.bool("vrc.flags.resp", "From endpoint", 16, nil, 0x0004)
F.flag_sealed = ProtoField.bool("vrc.flags.sealed", "Sealed (keyed session)", 16, nil, 0x0008)
F.flag_dup = ProtoField.bool("vrc.flags.dup", "Answers a duplicate (seq)", 16, nil, 0x0010)
F.flag_resent = ProtoField.bool("vrc.flags.resent", "Sent again (with DUP: the duplicate was)", 16, nil, 0x0020)
F.rc_id = ProtoField.uint16("vrc.rc_id", "Root complex id")
F.session = ProtoField.uint16("vrc.session", "Session", base.HEX)
F.epoch = ProtoField.uint32("vrc.epoch", "Epoch")
F.seq = ProtoField.uint32("vrc.seq", "Sequence")
F.ack = ProtoField.uint32("vrc.ack", "Acknowledgement")
F.payload_len = ProtoField.uint16("vrc.payload_len", "Payload length")
F.count = ProtoField.uint8("vrc.count", "Record count")
F.rec_len = ProtoField.uint16("vrc.rec_len", "Record length")
F.crc = ProtoField.uint32("vrc.crc", "CRC-32C", base.HEX)
F.crc_ok = ProtoField.bool("vrc.crc_ok", "CRC-32C good")
F.ctrl_op = ProtoField.uint8("vrc.ctrl.op", "Control op", base.DEC, ctrl_ops)
F.ctrl_max_frame = ProtoField.uint16("vrc.ctrl.max_frame", "Max frame")
F.ctrl_mps = ProtoField.uint16("vrc.ctrl.mps", "MPS")
F.ctrl_mrrs = ProtoField.uint16("vrc.ctrl.mrrs", "MRRS")
F.ctrl_features = ProtoField.uint32("vrc.ctrl.features", "Features", base.HEX)
F.ctrl_f_credit = ProtoField.bool("vrc.ctrl.features.credit", "CREDIT: limits the peer's requests",
                                  32, nil, 0x00000001)
F.ctrl_credit = ProtoField.uint32("vrc.ctrl.credit", "Request credit (TLPs)")
F.ctrl_limit = ProtoField.uint32("vrc.ctrl.limit", "Request limit (0: none given)")
F.ctrl_cookie = ProtoField.uint32("vrc.ctrl.cookie", "Cookie", base.HEX)
F.ctrl_sack_bits = ProtoField.uint16("vrc.ctrl.sack_bits", "Selective-ack bits")
F.ctrl_sack = ProtoField.string("vrc.ctrl.sack", "Held after the ack")
F.keyed = ProtoField.bool("vrc.keyed", "Keyed session (version 2)")
F.hello_nonce = ProtoField.bytes("vrc.hello.nonce", "Handshake nonce")
F.hello_mac = ProtoField.bytes("vrc.hello.mac", "Handshake MAC")
F.seal_counter = ProtoField.uint64("vrc.seal.counter", "Sealing counter")
F.seal_ciphertext = ProtoField.bytes("vrc.seal.ciphertext", "Encrypted payload")
F.seal_tag = ProtoField.bytes("vrc.seal.tag", "AES-GCM tag")
F.disc_op = ProtoField.uint8("vrc.disc.op", "Discovery op", base.DEC, disc_ops)
F.disc_rc_id = ProtoField.uint16("vrc.disc.rc_id", "Root complex id")
F.disc_owner = ProtoField.ether("vrc.disc.owner", "Owner MAC")
F.disc_bdf = ProtoField.uint16("vrc.disc.bdf", "BDF", base.HEX)
F.disc_vendor = ProtoField.uint16("vrc.disc.vendor", "Vendor", base.HEX)
F.disc_device = ProtoField.uint16("vrc.disc.device", "Device", base.HEX)
F.disc_class_rev = ProtoField.uint32("vrc.disc.class_rev", "Class/revision", base.HEX)
F.disc_state = ProtoField.uint32("vrc.disc.state", "State")
F.disc_version = ProtoField.uint8("vrc.disc.version", "DISC version")
F.disc_flags = ProtoField.uint16("vrc.disc.flags", "DISC flags", base.HEX)
F.disc_fn = ProtoField.uint8("vrc.disc.function", "Function")
F.disc_fns = ProtoField.uint8("vrc.disc.functions", "Functions")
F.disc_ssvid = ProtoField.uint16("vrc.disc.subsys_vendor", "Subsystem vendor", base.HEX)
F.disc_ssid = ProtoField.uint16("vrc.disc.subsys_id", "Subsystem id", base.HEX)
F.disc_gen = ProtoField.uint64("vrc.disc.generation", "Generation")
F.disc_xid = ProtoField.uint32("vrc.disc.xid", "Transaction id", base.HEX)
F.disc_interval = ProtoField.uint16("vrc.disc.interval", "Heartbeat interval (ms)")
F.disc_acked = ProtoField.uint8("vrc.disc.acked_op", "Acked op", base.DEC, disc_ops)
F.disc_status = ProtoField.uint8("vrc.disc.status", "Status", base.DEC, disc_status)
F.disc_serial = ProtoField.uint64("vrc.disc.serial", "Serial", base.HEX)
F.disc_bars = ProtoField.bytes("vrc.disc.bars", "BARs (log2 size, flags)")
F.disc_tag_len = ProtoField.uint16("vrc.disc.tag_len", "Tag length")
F.disc_auth = ProtoField.bool("vrc.disc.auth", "Signed (AUTH)", 16, nil, 0x0001)
F.disc_tag = ProtoField.bytes("vrc.disc.tag", "Tag")
F.disc_time = ProtoField.uint64("vrc.disc.time", "Signing time (us since 1970)")
F.disc_mac = ProtoField.bytes("vrc.disc.mac", "MAC (HMAC-SHA256, 16 bytes)")

F.tlp_fmt = ProtoField.uint8("vrc.tlp.fmt", "Fmt")
F.tlp_type = ProtoField.uint8("vrc.tlp.type", "Type", base.HEX)
F.tlp_name = ProtoField.string("vrc.tlp.name", "TLP")
F.tlp_tc = ProtoField.uint8("vrc.tlp.tc", "TC")
F.tlp_attr = ProtoField.uint8("vrc.tlp.attr", "Attr", base.HEX)
F.tlp_th = ProtoField.bool("vrc.tlp.th", "TH")
F.tlp_td = ProtoField.bool("vrc.tlp.td", "TD")
F.tlp_ep = ProtoField.bool("vrc.tlp.ep", "EP (poisoned)")
F.tlp_length = ProtoField.uint16("vrc.tlp.length", "Length (DW)")
F.tlp_tag = ProtoField.uint16("vrc.tlp.tag", "Tag", base.HEX)
F.tlp_requester = ProtoField.uint16("vrc.tlp.requester", "Requester ID", base.HEX)
F.tlp_first_be = ProtoField.uint8("vrc.tlp.first_be", "First DW BE", base.HEX)
F.tlp_last_be = ProtoField.uint8("vrc.tlp.last_be", "Last DW BE", base.HEX)
F.tlp_addr = ProtoField.uint64("vrc.tlp.addr", "Address", base.HEX)
F.tlp_bus = ProtoField.uint8("vrc.tlp.bus", "Bus")
F.tlp_dev = ProtoField.uint8("vrc.tlp.dev", "Device")
F.tlp_fn = ProtoField.uint8("vrc.tlp.fn", "Function")
F.tlp_reg = ProtoField.uint16("vrc.tlp.reg", "Register", base.HEX)
F.tlp_completer = ProtoField.uint16("vrc.tlp.completer", "Completer ID", base.HEX)
F.tlp_status = ProtoField.uint8("vrc.tlp.status", "Status", base.DEC, cpl_status)
F.tlp_bcm = ProtoField.bool("vrc.tlp.bcm", "BCM")
F.tlp_byte_count = ProtoField.uint16("vrc.tlp.byte_count", "Byte count")
F.tlp_lower_addr = ProtoField.uint8("vrc.tlp.lower_addr", "Lower address", base.HEX)
F.tlp_msg_code = ProtoField.uint8("vrc.tlp.msg_code", "Message code", base.HEX, msg_codes)
F.tlp_routing = ProtoField.uint8("vrc.tlp.routing", "Routing")
F.tlp_data = ProtoField.bytes("vrc.tlp.data", "Data")
F.vdm_vendor = ProtoField.uint16("vrc.vdm.vendor", "Vendor ID", base.HEX)
F.vdm_message = ProtoField.string("vrc.vdm.message", "vrc message")
F.push_key = ProtoField.uint64("vrc.push.key", "Doorbell address", base.HEX)
F.push_writes = ProtoField.uint32("vrc.push.writes", "Endpoint writes applied before the copy")
F.push_reads = ProtoField.uint32("vrc.push.reads", "Endpoint reads answered before the copy")
F.push_n = ProtoField.uint8("vrc.push.ranges", "Ranges")
F.push_bell = ProtoField.bytes("vrc.push.bell", "Doorbell data")
F.push_range_addr = ProtoField.uint64("vrc.push.range_addr", "Range address", base.HEX)
F.push_range_len = ProtoField.uint32("vrc.push.range_len", "Range length")
F.chase_base = ProtoField.uint64("vrc.chase.base", "Chase: pointer base", base.HEX)
F.chase_stride = ProtoField.uint16("vrc.chase.stride", "Chase: stride per doorbell value")
F.chase_small = ProtoField.uint16("vrc.chase.small", "Chase: at most this long, rounded out")
F.chase_len = ProtoField.uint16("vrc.chase.len", "Chase: length")
F.chase_len_at = ProtoField.int8("vrc.chase.len_at", "Chase: length offset (-128: none)")
F.chase_align = ProtoField.uint8("vrc.chase.align", "Chase: log2 of the rounding")

local ef_malformed = ProtoExpert.new("vrc.malformed", "Malformed vrc frame",
                                     expert.group.MALFORMED, expert.severity.ERROR)
local ef_crc = ProtoExpert.new("vrc.bad_crc", "Bad CRC-32C",
                               expert.group.CHECKSUM, expert.severity.ERROR)
vrc.experts = { ef_malformed, ef_crc }

-- CRC-32C, reflected polynomial 0x82F63B78.
local crc_table = {}
for i = 0, 255 do
    local c = i
    for _ = 1, 8 do
        if band(c, 1) ~= 0 then c = bxor(rshift(c, 1), 0x82F63B78) else c = rshift(c, 1) end
    end
    crc_table[i] = c
end

-- The ethertype table hands us the frame after the Ethernet header; the CRC
-- also covers that header, which we read back through the eth fields.  The
-- innermost one is ours: a frame carried in UDP (protocol.md section 8,
-- decoded with -d udp.port==PORT,eth) comes after the capture's own header.
local f_eth_dst = Field.new("eth.dst")
local f_eth_src = Field.new("eth.src")

local function last(...)
    local all = { ... }
    return all[#all]
end

local function crc32c_update(crc, bytes)
    for i = 0, bytes:len() - 1 do
        crc = bxor(rshift(crc, 8), crc_table[band(bxor(crc, bytes:get_index(i)), 0xff)])
    end
    return crc
end

local function frame_crc(tvb, len)
    local crc = 0xFFFFFFFF
    crc = crc32c_update(crc, last(f_eth_dst()).range:bytes())
    crc = crc32c_update(crc, last(f_eth_src()).range:bytes())
    crc = crc32c_update(crc, ByteArray.new("88 b5"))
    crc = crc32c_update(crc, tvb:range(0, len):bytes())
    return bxor(crc, 0xFFFFFFFF)
end

-- Fmt/Type to name; nil if not a TLP we carry.
local function tlp_name(fmt, typ)
    local data = band(fmt, 2) ~= 0
    if band(typ, 0x18) == 0x10 then
        return data and "MsgD" or "Msg"
    end
    local names = { [0x00] = {"MRd", "MWr"}, [0x02] = {"IORd", "IOWr"},
                    [0x04] = {"CfgRd0", "CfgWr0"}, [0x05] = {"CfgRd1", "CfgWr1"},
                    [0x0a] = {"Cpl", "CplD"} }
    local n = names[typ]
    if not n then return nil end
    return data and n[2] or n[1]
end

-- A HINT's or PUSH's payload (docs/protocol.md 6.6), big-endian.
local function dissect_push(p, t)
    local n = p(16, 1):uint()
    local off = 32
    t:add(F.push_key, p(0, 8), UInt64.new(p(4, 4):uint(), p(0, 4):uint()))
    t:add(F.push_writes, p(8, 4))
    t:add(F.push_reads, p(12, 4))
    t:add(F.push_n, p(16, 1))
    t:add(F.push_bell, p(24, 8))
    for _ = 1, n do
        if p:len() < off + 16 then
            t:add_proto_expert_info(ef_malformed, "Ranges past the payload")
            return
        end
        t:add(F.push_range_addr, p(off, 8), UInt64.new(p(off + 4, 4):uint(), p(off, 4):uint()))
        t:add(F.push_range_len, p(off + 8, 4))
        off = off + 16
    end
    if band(p(19, 1):uint(), 1) ~= 0 then
        if p:len() < off + 16 then
            t:add_proto_expert_info(ef_malformed, "Chase past the payload")
            return
        end
        t:add(F.chase_base, p(off, 8), UInt64.new(p(off + 4, 4):uint(), p(off, 4):uint()))
        t:add(F.chase_stride, p(off + 8, 2))
        t:add(F.chase_small, p(off + 10, 2))
        t:add(F.chase_len, p(off + 12, 2))
        t:add(F.chase_len_at, p(off + 14, 1))
        t:add(F.chase_align, p(off + 15, 1))
    end
end

local function dissect_tlp(tvb, tree, pinfo)
    local len = tvb:len()
    if len < 12 then
        tree:add_proto_expert_info(ef_malformed, "TLP shorter than a header")
        return "?"
    end
    local b0, b1, b2 = tvb(0, 1):uint(), tvb(1, 1):uint(), tvb(2, 1):uint()
    local fmt, typ = rshift(b0, 5), band(b0, 0x1f)
    local name = tlp_name(fmt, typ) or string.format("Fmt%d/Type0x%02x", fmt, typ)
    local t = tree:add(vrc, tvb(), "TLP: " .. name)
    local hdr = band(fmt, 1) ~= 0 and 16 or 12
    local length = bor(lshift(band(b2, 3), 8), tvb(3, 1):uint())
    local has_data = band(fmt, 2) ~= 0
    if length == 0 and has_data then length = 1024 end
    local tag_hi = bor(lshift(rshift(b1, 7), 9), lshift(band(rshift(b1, 3), 1), 8))

    t:add(F.tlp_fmt, tvb(0, 1), fmt)
    t:add(F.tlp_type, tvb(0, 1), typ)
    t:add(F.tlp_name, tvb(0, 1), name)
    t:add(F.tlp_tc, tvb(1, 1), band(rshift(b1, 4), 7))
    t:add(F.tlp_attr, tvb(1, 2), bor(lshift(band(rshift(b1, 2), 1), 2), band(rshift(b2, 4), 3)))
    t:add(F.tlp_th, tvb(1, 1), band(b1, 1) ~= 0)
    t:add(F.tlp_td, tvb(2, 1), band(b2, 0x80) ~= 0)
    t:add(F.tlp_ep, tvb(2, 1), band(b2, 0x40) ~= 0)
    t:add(F.tlp_length, tvb(2, 2), length)
    if len < hdr then
        t:add_proto_expert_info(ef_malformed, "TLP shorter than its header")
        return name
    end

    if name == "Cpl" or name == "CplD" then
        local b6 = tvb(6, 1):uint()
        local bc = bor(lshift(band(b6, 0xf), 8), tvb(7, 1):uint())
        if bc == 0 then bc = 4096 end
        t:add(F.tlp_completer, tvb(4, 2))
        t:add(F.tlp_status, tvb(6, 1), rshift(b6, 5))
        t:add(F.tlp_bcm, tvb(6, 1), band(b6, 0x10) ~= 0)
        t:add(F.tlp_byte_count, tvb(6, 2), bc)
        t:add(F.tlp_requester, tvb(8, 2))
        t:add(F.tlp_tag, tvb(10, 1), bor(tag_hi, tvb(10, 1):uint()))
        t:add(F.tlp_lower_addr, tvb(11, 1), band(tvb(11, 1):uint(), 0x7f))
    else
        t:add(F.tlp_requester, tvb(4, 2))
        t:add(F.tlp_tag, tvb(6, 1), bor(tag_hi, tvb(6, 1):uint()))
        if name == "Msg" or name == "MsgD" then
            t:add(F.tlp_msg_code, tvb(7, 1))
            t:add(F.tlp_routing, tvb(0, 1), band(typ, 7))
        else
            local be = tvb(7, 1):uint()
            t:add(F.tlp_last_be, tvb(7, 1), rshift(be, 4))
            t:add(F.tlp_first_be, tvb(7, 1), band(be, 0xf))
            if name:sub(1, 3) == "Cfg" then
                local devfn = tvb(9, 1):uint()
                t:add(F.tlp_bus, tvb(8, 1))
                t:add(F.tlp_dev, tvb(9, 1), rshift(devfn, 3))
                t:add(F.tlp_fn, tvb(9, 1), band(devfn, 7))
                t:add(F.tlp_reg, tvb(10, 2), bor(lshift(band(tvb(10, 1):uint(), 0xf), 8),
                                                band(tvb(11, 1):uint(), 0xfc)))
            elseif hdr == 16 then
                local addr = UInt64.new(band(tvb(12, 4):uint(), 0xfffffffc), tvb(8, 4):uint())
                t:add(F.tlp_addr, tvb(8, 8), addr)
            else
                t:add(F.tlp_addr, tvb(8, 4), UInt64.new(band(tvb(8, 4):uint(), 0xfffffffc), 0))
            end
        end
    end
    if (name == "Msg" or name == "MsgD") and tvb(7, 1):uint() == 0x7f then
        local vdm = vdm_names[tvb(12, 4):uint()]
        t:add(F.vdm_vendor, tvb(10, 2))
        if tvb(10, 2):uint() == 0x1234 and vdm then
            t:add(F.vdm_message, tvb(12, 4), vdm)
            if (vdm == "HINT" or vdm == "PUSH") and len >= hdr + 32 then
                dissect_push(tvb(hdr, len - hdr):tvb(), t)
            end
        end
    end
    if has_data then
        if len ~= hdr + length * 4 then
            t:add_proto_expert_info(ef_malformed, "Length disagrees with the record")
        elseif len > hdr then
            t:add(F.tlp_data, tvb(hdr, len - hdr))
        end
    end
    return name
end

function vrc.dissector(tvb, pinfo, tree)
    local len = tvb:len()
    pinfo.cols.protocol = "VRC"
    local root = tree:add(vrc, tvb(), "vrc PCIe over Ethernet")
    if len < 28 then
        root:add_proto_expert_info(ef_malformed, "Frame too short")
        return
    end
    local h = tvb
    local ftype = h(1, 1):uint()
    local plen = h(20, 2):uint()
    root:add(F.version, h(0, 1))
    root:add(F.type, h(1, 1))
    local fl = root:add(F.flags, h(2, 2))
    fl:add(F.flag_ack, h(2, 2))
    fl:add(F.flag_seq, h(2, 2))
    fl:add(F.flag_resp, h(2, 2))
    fl:add(F.flag_sealed, h(2, 2))
    fl:add(F.flag_dup, h(2, 2))
    fl:add(F.flag_resent, h(2, 2))
    local version = h(0, 1):uint()
    local sealed = version == 2 and band(h(2, 2):uint(), 0x0008) ~= 0
    if version == 2 then root:add(F.keyed, h(0, 1), true) end
    root:add(F.rc_id, h(4, 2))
    root:add(F.session, h(6, 2))
    root:add(F.epoch, h(8, 4))
    root:add(F.seq, h(12, 4))
    root:add(F.ack, h(16, 4))
    root:add(F.payload_len, h(20, 2))
    root:add(F.count, h(22, 1))

    local body = 24 + plen
    if body + 4 > len then
        root:add_proto_expert_info(ef_malformed, "Payload length beyond the frame")
        return
    end
    local crc = tvb(body, 4):uint()
    local good = frame_crc(tvb, body) == crc
    local ci = root:add(F.crc, tvb(body, 4))
    root:add(F.crc_ok, tvb(body, 4), good)
    if not good then
        ci:add_proto_expert_info(ef_crc)
    end

    local info = frame_types[ftype] or ("type " .. ftype)
    local p = plen > 0 and tvb(24, plen):tvb() or nil
    if sealed then
        -- Keyed session: counter, payload encrypted with AES-128-GCM, tag.
        if plen < 24 then
            root:add_proto_expert_info(ef_malformed, "Sealed payload shorter than counter and tag")
        else
            root:add(F.seal_counter, p(0, 8))
            if plen > 24 then root:add(F.seal_ciphertext, p(8, plen - 24)) end
            root:add(F.seal_tag, p(plen - 16, 16))
            info = string.format("%s sealed ctr=%s", info, tostring(p(0, 8):uint64()))
            if ftype == 1 then
                info = string.format("%s seq=%d ack=%d", info, h(12, 4):uint(), h(16, 4):uint())
            end
        end
    elseif ftype == 1 then
        local names = {}
        local off = 0
        for _ = 1, h(22, 1):uint() do
            if off + 4 > plen then
                root:add_proto_expert_info(ef_malformed, "Record overruns the payload")
                break
            end
            local rl = p(off, 2):uint()
            root:add(F.rec_len, p(off, 2))
            if off + 4 + rl > plen or rl < 12 then
                root:add_proto_expert_info(ef_malformed, "Bad record length")
                break
            end
            names[#names + 1] = dissect_tlp(p(off + 4, rl):tvb(), root, pinfo)
            off = off + 4 + rl
        end
        info = string.format("DATA seq=%d ack=%d: %s", h(12, 4):uint(), h(16, 4):uint(),
                             table.concat(names, " "))
    elseif ftype == 2 and plen >= 16 then
        local op = p(0, 1):uint()
        root:add(F.ctrl_op, p(0, 1))
        root:add(F.ctrl_max_frame, p(2, 2))
        root:add(F.ctrl_mps, p(4, 2))
        root:add(F.ctrl_mrrs, p(6, 2))
        info = "CTRL " .. (ctrl_ops[op] or tostring(op))
        if op == 1 or op == 2 then
            -- Offset 8: features; offset 12: the credit if CREDIT is set.
            local ft = root:add(F.ctrl_features, p(8, 4))
            ft:add(F.ctrl_f_credit, p(8, 4))
            if band(p(8, 4):uint(), 1) ~= 0 then
                root:add(F.ctrl_credit, p(12, 4))
                info = info .. string.format(" credit=%d", p(12, 4):uint())
            else
                root:add(F.ctrl_cookie, p(12, 4))
            end
        elseif op == 3 or op == 4 or op == 6 or op == 7 then
            -- Offset 8: the request limit, if the sender set CREDIT.
            root:add(F.ctrl_limit, p(8, 4))
            root:add(F.ctrl_cookie, p(12, 4))
            if p(8, 4):uint() ~= 0 then
                info = info .. string.format(" limit=%d", p(8, 4):uint())
            end
            if band(h(2, 2):uint(), 0x0010) ~= 0 then
                info = info .. string.format(" dup=%d", h(12, 4):uint())
            end
        else
            root:add(F.ctrl_features, p(8, 4))
            root:add(F.ctrl_cookie, p(12, 4))
        end
        if version == 2 and (op == 1 or op == 2) and plen >= 64 then
            -- Keyed HELLO/HELLO_ACK: the sender's nonce and its MAC.
            root:add(F.hello_nonce, p(16, 32))
            root:add(F.hello_mac, p(48, 16))
            info = info .. " (keyed)"
        end
        if (op == 3 or op == 4) and plen > 16 then
            -- The selective-ack block: a bitmap of the frames after the ack.
            local bits = plen >= 20 and p(16, 2):uint() or 0
            if plen < 20 or bits % 8 ~= 0 or 20 + bits / 8 > plen then
                root:add_proto_expert_info(ef_malformed, "Bad selective-ack block")
            else
                local ack = h(16, 4):uint()
                local held = {}
                root:add(F.ctrl_sack_bits, p(16, 2))
                for i = 0, bits - 1 do
                    local byte = p(20 + math.floor(i / 8), 1):uint()
                    if band(byte, rshift(0x80, i % 8)) ~= 0 then
                        held[#held + 1] = tostring((ack + 1 + i) % 4294967296)
                    end
                end
                local list = table.concat(held, ",")
                root:add(F.ctrl_sack, p(20, bits / 8), list)
                info = string.format("%s ack=%d", info, ack)
                if #held > 0 then info = info .. " held=" .. list end
            end
        end
    elseif ftype == 3 and plen >= 24 then
        local op = p(0, 1):uint()
        root:add(F.disc_op, p(0, 1))
        root:add(F.disc_rc_id, p(2, 2))
        root:add(F.disc_owner, p(4, 6))
        root:add(F.disc_bdf, p(10, 2))
        root:add(F.disc_vendor, p(12, 2))
        root:add(F.disc_device, p(14, 2))
        root:add(F.disc_class_rev, p(16, 4))
        root:add(F.disc_state, p(20, 4))
        root:add(F.disc_version, p(1, 1))
        if plen >= 72 then
            local flags = root:add(F.disc_flags, p(24, 2))
            flags:add(F.disc_auth, p(24, 2))
            root:add(F.disc_fn, p(26, 1))
            root:add(F.disc_fns, p(27, 1))
            root:add(F.disc_ssvid, p(28, 2))
            root:add(F.disc_ssid, p(30, 2))
            root:add(F.disc_gen, p(32, 8))
            root:add(F.disc_xid, p(40, 4))
            root:add(F.disc_interval, p(44, 2))
            root:add(F.disc_acked, p(46, 1))
            root:add(F.disc_status, p(47, 1))
            root:add(F.disc_serial, p(48, 8))
            root:add(F.disc_bars, p(56, 12))
            root:add(F.disc_tag_len, p(68, 2))
            -- protocol.md 5.4: a signed frame's tag is time (8) and MAC (16).
            local tlen = math.min(p(68, 2):uint(), plen - 72)
            if tlen > 0 then
                local tag = root:add(F.disc_tag, p(72, tlen))
                if tlen == 24 then
                    tag:add(F.disc_time, p(72, 8))
                    tag:add(F.disc_mac, p(80, 16))
                end
            end
        end
        info = "DISC " .. (disc_ops[op] or tostring(op))
        if plen >= 72 and p(24, 2):uint() % 2 == 1 then
            info = info .. " signed"
        end
        if plen >= 72 then info = info .. " gen " .. tostring(p(32, 8):uint64()) end
    end
    if not good then info = info .. " [bad CRC]" end
    pinfo.cols.info = info
end

DissectorTable.get("ethertype"):add(0x88B5, vrc)
