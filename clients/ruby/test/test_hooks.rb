# frozen_string_literal: true

require_relative "support"
require "logger"
require "stringio"

# Net::HTTP and Faraday against a fake agent: verdicts become responses, errors and
# callbacks; a missing or broken agent fails open.
class HooksTest < Minitest::Test
  include TestSupport
  W = Middlepipe::Wire

  def setup
    @service = Service.new
    @callbacks = Middlepipe::Callbacks.new
    @events = []
    @callbacks.on("*") { |event| @events << event }
  end

  def teardown
    Middlepipe.uninstall
    @service.close
    @agent&.close
  end

  def agent(&answer)
    @agent = FakeAgent.new(&answer)
  end

  def install(path = @agent.path, log: nil)
    Middlepipe::NetHTTP.hook = nil
    hook = Middlepipe.install(socket_path: path, services: { "127.0.0.1:#{@service.port}" => "orders" },
                              callbacks: @callbacks)
    hook.instance_variable_get(:@link).instance_variable_set(:@logger, Logger.new(log)) if log
    hook
  end

  def get(path = "/orders")
    Net::HTTP.get_response(URI("http://127.0.0.1:#{@service.port}#{path}"))
  end

  def faraday
    hook = Middlepipe::Hook.new(socket_path: @agent.path, services: { "127.0.0.1:#{@service.port}" => "orders" },
                                callbacks: @callbacks)
    Faraday.new("http://127.0.0.1:#{@service.port}") { |f| f.use Middlepipe::FaradayMiddleware, hook: hook }
  end

  def test_net_http_sends_the_call_and_adds_the_markers
    agent do |f|
      if f.key?(2)
        call = W.fields(f[2].last)
        assert_equal ["orders", "/orders?x=1"], [W.text(call, 1), W.text(call, 3)]
        TestSupport.verdict_reply(f[1].last, call_id: 7, markers: [["Middlepipe-Epoch", "3"]])
      end
    end
    install
    response = get("/orders?x=1")
    assert_equal ["200", "3", 1], [response.code, response["Middlepipe-Epoch"], @service.calls]
    @agent.received.pop
    outcome = W.fields(@agent.received.pop[3].last) # OnResponse reaches the agent
    assert_equal [7, 200, 1], [W.int(outcome, 1), W.int(outcome, 2), W.int(outcome, 8)]
  end

  def test_an_open_breaker_raises_circuit_open_and_fires_the_callback
    agent do |f|
      TestSupport.verdict_reply(f[1].last, action: W::ACTION_RESPOND, markers: [["Middlepipe-Callback", OPEN]],
                                           response: TestSupport.synthesized(503, raise_error: true))
    end
    install
    error = assert_raises(Middlepipe::CircuitOpenError) { get }
    assert_kind_of Middlepipe::Error, error
    assert_equal ["orders-breaker", "60% of 10 calls failed"], [error.middlepipe, error.detail]
    assert_equal ["open"], @events.map(&:event)
    assert_equal 0, @service.calls
    assert_raises(Middlepipe::CircuitOpenError) { faraday.get("/orders") }
  end

  def test_a_fallback_is_the_response_for_both_libraries
    agent do |f|
      TestSupport.verdict_reply(f[1].last, action: W::ACTION_RESPOND,
                                           response: TestSupport.synthesized(200, [["Content-Type", "application/json"]],
                                                                             '{"orders":"cached"}'))
    end
    install
    response = get
    assert_equal ["200", '{"orders":"cached"}'], [response.code, response.body]
    assert_equal [200, '{"orders":"cached"}'], [faraday.get("/orders").status, faraday.get("/orders").body]
    assert_equal 0, @service.calls
  end

  def test_a_rate_limit_raises_with_retry_after
    limited = 'rate-limit; name="orders-limit"; event=limited'
    agent do |f|
      TestSupport.verdict_reply(f[1].last, action: W::ACTION_RESPOND, markers: [["Middlepipe-Callback", limited]],
                                           response: TestSupport.synthesized(429, [["Retry-After", "2"]], raise_error: true))
    end
    install
    error = assert_raises(Middlepipe::RateLimitedError) { get }
    assert_equal [2.0, "429"], [error.retry_after, error.response.code]
  end

  def test_faraday_waits_for_the_markers_of_a_trial
    closed = 'circuit-breaker; name="orders-breaker"; event=closed'
    agent do |f|
      f.key?(2) ? TestSupport.verdict_reply(f[1].last, call_id: 9, await_markers: true)
                : TestSupport.markers_reply(f[1].last, [["Middlepipe-Callback", closed]])
    end
    response = faraday.get("/orders")
    assert_equal [200, closed], [response.status, response.headers["Middlepipe-Callback"]]
    assert_equal ["closed"], @events.map(&:event)
  end

  def test_a_split_sends_the_call_to_the_chosen_service
    canary = Service.new
    agent do |f|
      TestSupport.verdict_reply(f[1].last, call_id: 1, destination: "orders-v2",
                                           endpoints: [["127.0.0.1", canary.port]]) if f.key?(2)
    end
    install
    get
    faraday.get("/orders")
    assert_equal [0, 2], [@service.calls, canary.calls]
  ensure
    canary&.close
  end

  def test_without_an_agent_calls_go_through_and_it_warns_once
    log = StringIO.new
    install("/nonexistent/agent.sock", log: log)
    3.times { assert_equal "200", get.code }
    assert_equal 3, @service.calls
    assert_equal 1, log.string.scan("agent unreachable").size
  end

  def test_a_client_library_that_cannot_load_is_said_and_the_socket_decides
    agent { |f| TestSupport.verdict_reply(f[1].last, markers: [["Middlepipe-Epoch", "4"]]) if f.key?(2) }
    log = StringIO.new
    explicit = ENV.fetch("MP_CLIENT_LIBRARY", nil)
    ENV["MP_CLIENT_LIBRARY"] = "/nonexistent/libmiddlepipe_client.so"
    hook = Middlepipe::Hook.new(socket_path: @agent.path, logger: Logger.new(log))
    assert_nil hook.fast_path
    assert_includes log.string, "/nonexistent/libmiddlepipe_client.so"
    assert_equal "4", hook.before("orders", "GET", "/", []).markers.to_h["Middlepipe-Epoch"]
    hook.close
  ensure
    ENV["MP_CLIENT_LIBRARY"] = explicit
  end

  def test_a_malformed_reply_fails_open
    agent { "RAW:".b + "\x00\x00\x00\x03\xff\xff\xff".b }
    install
    assert_equal "200", get.code
    assert_equal 1, @service.calls
  end

  def test_callback_markers_parse_like_the_cpp_hook
    event = Middlepipe.parse_callback_marker('circuit-breaker; name="orders-breaker"; event=open; detail="50%; of 4 calls"')
    assert_equal ["circuit-breaker", "orders-breaker", "open", "50%; of 4 calls"],
                 [event.kind, event.middlepipe, event.event, event.detail]
    assert_nil Middlepipe.parse_callback_marker("garbage")
    assert_nil Middlepipe.parse_callback_marker('kind; name="unterminated')
  end

  def test_hosts_name_their_service
    hook = Middlepipe::Hook.new(services: { "10.0.0.7:8080" => "orders", "db.internal" => "billing" })
    assert_equal "orders", hook.service_for("orders.internal", 8080)
    assert_nil hook.service_for("10.0.0.8", 8080)
    assert_equal "orders", hook.service_for("10.0.0.7", 8080)
    assert_equal "billing", hook.service_for("db.internal", 80)
  end
end
