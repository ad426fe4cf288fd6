# frozen_string_literal: true

require "fiddle"
require "middlepipe/wire"

module Middlepipe
  # The agent's shared-memory fast path through libmiddlepipe_client.so (its C ABI,
  # clients/cpp/fastpath/middlepipe_client.h), loaded with Fiddle when it can be found:
  # $MP_CLIENT_LIBRARY, else wherever the dynamic loader looks. Without it every call
  # asks the agent over its socket, with the same verdicts: the library decides only
  # what the agent published it may decide, and says "ask" otherwise.
  class FastPath
    ABI_VERSION = 1
    NO_CHAIN = 0
    CONTINUE = 1
    RESPOND = 2
    ASK_AGENT = 3

    # A verdict the fast path reached, shaped as the socket's (Wire::Verdict) so the
    # library adapters apply either alike; `fast_call` is the call to report.
    Verdict = Struct.new(*Wire::Verdict.members, :fast_call, keyword_init: true)

    P = Fiddle::TYPE_VOIDP
    U32 = -Fiddle::TYPE_INT
    U64 = -Fiddle::TYPE_LONG_LONG
    SIGNATURES = {
      "mp_abi_version" => [[], Fiddle::TYPE_INT],
      "mp_client_open" => [[P], P],
      "mp_client_close" => [[P], Fiddle::TYPE_VOID],
      "mp_on_request" => [[P, P, P], P],
      "mp_on_response" => [[P, P, U32, U64, U64, U64], Fiddle::TYPE_VOID],
      "mp_call_free" => [[P], Fiddle::TYPE_VOID],
      "mp_call_markers" => [[P], P],
      "mp_call_status" => [[P], U32],
      "mp_call_raise" => [[P], Fiddle::TYPE_INT],
      "mp_call_headers" => [[P], P],
      "mp_call_body" => [[P, P], P],
      "mp_client_dropped" => [[P], U64]
    }.freeze
    # Additions to ABI version 1: with them the library routes and delays in-process; an
    # older library lacks them, and chains with a fault-inject or traffic-split ask the
    # socket.
    ROUTING_SIGNATURES = {
      "mp_on_request_with" => [[P, P, P, Fiddle::TYPE_INT, P], P],
      "mp_call_delay_ms" => [[P], U32],
      "mp_call_destination" => [[P], P],
      "mp_call_endpoints" => [[P], P]
    }.freeze
    APPLIES_DELAY_AND_DESTINATION = 1

    # The fast path beside the agent at socket_path ($MP_AGENT_SHM, else the socket path
    # + ".shm", where the agent puts it), or nil when the library is not found.
    def self.open(socket_path, logger)
      functions = load_library(ENV.fetch("MP_CLIENT_LIBRARY", nil), logger)
      functions && new(functions, ENV["MP_AGENT_SHM"] || "#{socket_path}.shm")
    end

    def self.load_library(explicit, logger)
      [explicit, "libmiddlepipe_client.so"].compact.each do |candidate|
        library = Fiddle.dlopen(candidate)
        functions = SIGNATURES.to_h do |name, (arguments, result)|
          [name, Fiddle::Function.new(library[name], arguments, result)]
        end
        functions.merge!(routing_functions(library))
        version = functions["mp_abi_version"].call
        return functions if version == ABI_VERSION

        logger.warn("#{candidate} speaks ABI version #{version}, this gem #{ABI_VERSION}; " \
                    "calls ask the agent over its socket")
      rescue Fiddle::DLError => e
        # Asked for by name: worth a line; the socket still works.
        logger.warn("cannot use MP_CLIENT_LIBRARY=#{explicit} (#{e.message}); calls ask the agent over its socket") if
          candidate == explicit
      end
      nil
    end

    def self.routing_functions(library)
      ROUTING_SIGNATURES.to_h do |name, (arguments, result)|
        [name, Fiddle::Function.new(library[name], arguments, result)]
      end
    rescue Fiddle::DLError
      {}
    end

    attr_reader :segment_path

    def initialize(functions, segment_path)
      @f = functions
      @segment_path = segment_path
      @client = @f["mp_client_open"].call("#{segment_path}\0")
      raise NoMemoryError, "mp_client_open" if @client.null?
    end

    # The verdict for a call to service with the request's headers ([name, value] pairs,
    # which a sticky traffic split reads): a Verdict, or nil when the agent must be asked.
    def before(service, headers = [])
      action = Fiddle::Pointer.malloc(Fiddle::SIZEOF_INT, Fiddle::RUBY_FREE)
      action[0, Fiddle::SIZEOF_INT] = [ASK_AGENT].pack("i")
      call = if @f.key?("mp_on_request_with")
               text = headers.map { |name, value| "#{name}: #{value}\r\n" }.join
               @f["mp_on_request_with"].call(@client, "#{service}\0", "#{text}\0", APPLIES_DELAY_AND_DESTINATION, action)
             else
               @f["mp_on_request"].call(@client, "#{service}\0", action)
             end
      case action[0, Fiddle::SIZEOF_INT].unpack1("i")
      when NO_CHAIN then verdict(Wire::ACTION_CONTINUE, [])
      when CONTINUE then let_through(call)
      when RESPOND then answered(call)
      end
    end

    # Reports a call the fast path let through (status 0: it failed at the transport).
    def after(verdict, status, latency_us, response_bytes)
      @f["mp_on_response"].call(@client, verdict.fast_call, status, latency_us, 0, response_bytes)
    end

    def close
      return if @client.nil?

      @f["mp_client_close"].call(@client)
      @client = nil
    end

    private

    def let_through(call)
      markers = lines(@f["mp_call_markers"].call(call))
      return verdict(Wire::ACTION_CONTINUE, markers, fast_call: call) unless @f.key?("mp_on_request_with")

      endpoints = text(@f["mp_call_endpoints"].call(call)).split("\n").filter_map do |line|
        host, _, port = line.rpartition(":")
        [host, port.to_i] unless host.empty? || port !~ /\A\d+\z/
      end
      verdict(Wire::ACTION_CONTINUE, markers, fast_call: call, delay_ms: @f["mp_call_delay_ms"].call(call),
                                              destination_service: text(@f["mp_call_destination"].call(call)),
                                              destination_endpoints: endpoints)
    end

    def answered(call)
      length = Fiddle::Pointer.malloc(Fiddle::SIZEOF_SIZE_T, Fiddle::RUBY_FREE)
      body = @f["mp_call_body"].call(call, length)
      size = length[0, Fiddle::SIZEOF_SIZE_T].unpack1("J")
      response = Wire::SynthesizedResponse.new(
        status: @f["mp_call_status"].call(call), headers: lines(@f["mp_call_headers"].call(call)),
        body: size.zero? ? +"" : body.to_s(size), raise_error: @f["mp_call_raise"].call(call) != 0
      )
      verdict(Wire::ACTION_RESPOND, lines(@f["mp_call_markers"].call(call)), response: response)
    ensure
      @f["mp_call_free"].call(call)
    end

    def verdict(action, markers, fast_call: nil, response: nil, delay_ms: 0, destination_service: "",
                destination_endpoints: [])
      Verdict.new(action: action, call_id: 0, epoch: 0, set_headers: [], remove_headers: [],
                  destination_service: destination_service, destination_endpoints: destination_endpoints,
                  delay_ms: delay_ms, response: response, markers: markers, await_response_markers: false,
                  fast_call: fast_call)
    end

    # "Name: value\n" lines, as the C ABI gives markers and headers.
    def lines(pointer)
      text(pointer).split("\n").map { |line| line.split(": ", 2) }
    end

    def text(pointer)
      pointer.null? ? +"" : pointer.to_s.force_encoding(Encoding::UTF_8)
    end
  end
end
