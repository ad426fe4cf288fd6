# frozen_string_literal: true

# The hook protocol's wire format (proto/hook.proto): 4-byte big-endian length frames of
# protobuf messages, encoded and decoded here for the few messages a hook exchanges (a
# tiny codec instead of ruby-google-protobuf's generated code, which would have to ship
# the proto tree under its own top-level names). Checked against protoc's encoding in the
# tests and against the real agent end to end.
module Middlepipe
  module Wire
    MAX_FRAME = 4 * 1024 * 1024
    ACTION_CONTINUE = 1
    ACTION_RESPOND = 2

    class Error < StandardError; end

    SynthesizedResponse = Struct.new(:status, :headers, :body, :raise_error, keyword_init: true)
    Verdict = Struct.new(:action, :call_id, :epoch, :set_headers, :remove_headers, :destination_service,
                         :destination_endpoints, :delay_ms, :response, :markers, :await_response_markers,
                         keyword_init: true)
    Reply = Struct.new(:request_id, :verdict, :markers, :error, :pong, keyword_init: true)

    module_function

    def varint(value)
      out = +"".b
      loop do
        byte = value & 0x7F
        value >>= 7
        if value.zero?
          out << byte.chr
          return out
        end
        out << (byte | 0x80).chr
      end
    end

    def uint(number, value)
      value.to_i.zero? ? "".b : varint(number << 3) + varint(value.to_i)
    end

    def len(number, data, always: false)
      data = data.b
      return "".b if data.empty? && !always

      varint((number << 3) | 2) + varint(data.bytesize) + data
    end

    def str(number, text)
      len(number, text.to_s.dup.force_encoding(Encoding::BINARY))
    end

    def headers(number, pairs)
      pairs.map { |name, value| len(number, str(1, name) + str(2, value), always: true) }.join.b
    end

    # A HookRequest with OnRequest (no body: no built-in filter needs it).
    def on_request(request_id, service, method, path, header_pairs)
      call = str(1, service) + str(2, method) + str(3, path) + headers(4, header_pairs)
      uint(1, request_id) + len(2, call, always: true)
    end

    # A HookRequest with OnResponse.
    def on_response(request_id, call_id, status, latency_us, response_bytes, transport_error, no_reply)
      outcome = uint(1, call_id) + uint(2, status) + uint(4, latency_us) + uint(6, response_bytes) +
                str(7, transport_error) + uint(8, no_reply ? 1 : 0)
      uint(1, request_id) + len(3, outcome, always: true)
    end

    def frame(message)
      [message.bytesize].pack("N") + message
    end

    def read_varint(data, pos)
      value = 0
      shift = 0
      loop do
        raise Error, "truncated or oversized varint" if pos >= data.bytesize || shift > 63

        byte = data.getbyte(pos)
        pos += 1
        value |= (byte & 0x7F) << shift
        return [value, pos] if (byte & 0x80).zero?

        shift += 7
      end
    end

    # Field number => values (Integers for varints, binary Strings for length-delimited).
    def fields(data)
      data = data.b
      out = Hash.new { |hash, key| hash[key] = [] }
      pos = 0
      while pos < data.bytesize
        key, pos = read_varint(data, pos)
        number = key >> 3
        case key & 7
        when 0
          value, pos = read_varint(data, pos)
        when 2
          length, pos = read_varint(data, pos)
          raise Error, "truncated field" if pos + length > data.bytesize

          value = data.byteslice(pos, length)
          pos += length
        when 1 then pos += 8; next
        when 5 then pos += 4; next
        else raise Error, "unknown wire type #{key & 7}"
        end
        raise Error, "truncated field" if pos > data.bytesize

        out[number] << value
      end
      out
    end

    def text(fields, number)
      value = fields.key?(number) ? fields[number].last : "".b
      raise Error, "field #{number} is not a string" unless value.is_a?(String)

      value.dup.force_encoding(Encoding::UTF_8).scrub
    end

    def int(fields, number)
      value = fields.key?(number) ? fields[number].last : 0
      raise Error, "field #{number} is not a number" unless value.is_a?(Integer)

      value
    end

    def header_pairs(fields, number)
      (fields.key?(number) ? fields[number] : []).map do |raw|
        raise Error, "header is not a message" unless raw.is_a?(String)

        header = fields(raw)
        [text(header, 1), text(header, 2)]
      end
    end

    def verdict(data)
      f = fields(data)
      response = SynthesizedResponse.new(status: 0, headers: [], body: "".b, raise_error: false)
      if f.key?(9)
        r = fields(f[9].last)
        response = SynthesizedResponse.new(status: int(r, 1), headers: header_pairs(r, 2),
                                           body: (r.key?(3) ? r[3].last : "".b), raise_error: int(r, 4) != 0)
      end
      endpoints = (f.key?(7) ? f[7] : []).map { |raw| e = fields(raw); [text(e, 1), int(e, 2)] }
      Verdict.new(action: int(f, 1).zero? ? ACTION_CONTINUE : int(f, 1), call_id: int(f, 2), epoch: int(f, 3),
                  set_headers: header_pairs(f, 4),
                  remove_headers: (f.key?(5) ? f[5] : []).map { |v| v.dup.force_encoding(Encoding::UTF_8) },
                  destination_service: text(f, 6), destination_endpoints: endpoints, delay_ms: int(f, 8),
                  response: response, markers: header_pairs(f, 10), await_response_markers: int(f, 11) != 0)
    end

    # Decodes a HookReply; Wire::Error if the bytes are not one.
    def parse_reply(data)
      f = fields(data)
      reply = Reply.new(request_id: int(f, 1), pong: false)
      if f.key?(2)
        reply.verdict = verdict(f[2].last)
      elsif f.key?(3)
        reply.markers = header_pairs(fields(f[3].last), 1)
      elsif f.key?(5)
        reply.error = text(fields(f[5].last), 1)
      elsif f.key?(4)
        reply.pong = true
      end
      reply
    rescue NoMethodError, TypeError => e # a field of the wrong wire type
      raise Error, e.message
    end
  end
end
