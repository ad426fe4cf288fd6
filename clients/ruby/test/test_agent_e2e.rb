# frozen_string_literal: true

require_relative "support"
require_relative "stack"

# End to end against a real mp-agent: a circuit breaker bound web -> orders opens for a
# Ruby app using Net::HTTP and Faraday, which get CircuitOpenError and the callback.
class AgentEndToEndTest < Minitest::Test
  def setup
    unless Stack.present?
      flunk "binaries missing under #{ENV['MP_BIN_DIR']}" if ENV["MP_BIN_DIR"]
      skip "build the binaries first (bazel build //...)"
    end
    @stack = Stack.new
  end

  def teardown
    Middlepipe.uninstall
    @stack&.close
  end

  def test_a_breaker_opens_for_a_ruby_app_on_the_fast_path
    breaker_opens(fast_path: true)
  end

  def test_a_breaker_opens_for_a_ruby_app_over_the_socket
    breaker_opens(fast_path: false)
  end

  # Calls alternate between a hook on the fast path and one asking the socket; the limit
  # counts them together and both see the same markers and the same limited calls.
  def test_rate_limit_verdicts_are_the_same_on_both_paths
    @stack.mp("create-middlepipe", "rate-limit", "orders-limit", "-c",
              '{"requests_per_second":0.5,"burst":3,"scope":"instance"}')
    @stack.mp("bind-middlepipe", "orders-limit", "web", "orders")
    hooks = faraday_on_both_paths
    outcomes = 8.times.map do |i|
      response = hooks[i % 2].get("/orders")
      [response.status, response.headers["Middlepipe-Epoch"]]
    rescue Middlepipe::RateLimitedError => e
      [:limited, e.response.headers["Middlepipe-Epoch"]]
    end
    passed = outcomes.count([200, "1"])
    assert_equal [[200, "1"]] * passed + [[:limited, "1"]] * (8 - passed), outcomes
    assert_includes 3..6, passed, "both hooks must be limited"
    assert_equal passed, @stack.service_calls, "limited calls reached the service"
    assert_match(/and 4 on the fast path/, @stack.stop(:agent))
  end

  # A sticky traffic split and an injected delay, decided in-process and over the socket:
  # each user goes to the same service either way, every call is delayed and says so, and
  # the agent counts the fast path's calls.
  def test_split_and_delay_are_the_same_on_both_paths
    v2_port = @stack.start_service("orders-v2")
    @stack.mp("create-middlepipe", "fault-inject", "orders-slow", "-c", '{"delay_percent":100,"delay_ms":30}')
    @stack.mp("create-middlepipe", "traffic-split", "orders-canary", "-c",
              '{"sticky_header":"x-user","routes":[{"service":"orders","weight":1},{"service":"orders-v2","weight":1}]}')
    @stack.mp("bind-middlepipe", "orders-slow", "web", "orders")
    assert_includes @stack.mp("bind-middlepipe", "orders-canary", "web", "orders"), "applied to 1/1 instances"
    hooks = faraday_on_both_paths
    routes = 12.times.map do |user|
      hooks.map do |faraday|
        before = @stack.service_calls(v2_port)
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        response = faraday.get("/orders", nil, { "X-User" => "user-#{user}" })
        elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
        assert_equal 200, response.status
        assert_operator elapsed, :>=, 0.03, "the delay was not applied"
        assert_match(/event=delay/, response.headers["Middlepipe-Callback"].to_s)
        @stack.service_calls(v2_port) - before
      end
    end
    assert(routes.all? { |fast, socket| fast == socket }, routes.inspect)
    to_v2 = routes.sum(&:first)
    assert_includes 1..11, to_v2, "a 50/50 split sent #{to_v2} of 12 users to orders-v2"
    assert_match(/and 12 on the fast path/, @stack.stop(:agent)) if ENV["MP_CLIENT_LIBRARY"]
  end

  private

  # Faraday connections to orders: one whose hook uses the fast path, one asking the socket.
  def faraday_on_both_paths
    services = { "127.0.0.1:#{@stack.service_port}" => "orders" }
    [true, false].map do |fast_path|
      Faraday.new("http://127.0.0.1:#{@stack.service_port}") do |f|
        f.use Middlepipe::FaradayMiddleware, socket_path: @stack.socket, services: services, fast_path: fast_path
      end
    end
  end

  def breaker_opens(fast_path:)
    @stack.mp("create-middlepipe", "circuit-breaker", "orders-breaker", "-c",
              '{"min_requests":4,"error_threshold_percent":50,"open_ms":60000}')
    assert_includes @stack.mp("bind-middlepipe", "orders-breaker", "web", "orders"), "applied to 1/1 instances"
    callbacks = Middlepipe::Callbacks.new
    opened = []
    callbacks.on("open") { |event| opened << event.middlepipe }
    services = { "127.0.0.1:#{@stack.service_port}" => "orders" }
    hook = Middlepipe.install(socket_path: @stack.socket, services: services, callbacks: callbacks,
                              fast_path: fast_path)
    assert hook.fast_path, "libmiddlepipe_client.so did not load" if fast_path && ENV["MP_CLIENT_LIBRARY"]
    faraday = Faraday.new("http://127.0.0.1:#{@stack.service_port}") do |f|
      f.use Middlepipe::FaradayMiddleware, socket_path: @stack.socket, services: services, callbacks: callbacks,
                                           fast_path: fast_path
    end
    5.times do
      response = Net::HTTP.get_response(@stack.url)
      assert_equal ["200", "1"], [response.code, response["Middlepipe-Epoch"]]
      assert_equal "1", faraday.get("/orders").headers["Middlepipe-Epoch"]
    end

    @stack.failing = true
    error = nil
    deadline = Time.now + 20
    while error.nil? && Time.now < deadline
      begin
        assert_equal "500", Net::HTTP.get_response(@stack.url).code
        sleep 0.02
      rescue Middlepipe::CircuitOpenError => e
        error = e
      end
    end
    refute_nil error, "the breaker never opened"
    assert_equal "orders-breaker", error.middlepipe
    assert_equal "orders-breaker", opened.first
    calls = @stack.service_calls
    assert_raises(Middlepipe::CircuitOpenError) { Net::HTTP.get_response(@stack.url) }
    assert_raises(Middlepipe::CircuitOpenError) { faraday.get("/orders") }
    assert_equal calls, @stack.service_calls, "an open breaker keeps calls off the service"
  end
end
