#!/usr/bin/env ruby
# frozen_string_literal: true

# Added latency of the Ruby hook: the same GET over one keep-alive Net::HTTP connection
# without and with the hook (a circuit breaker and a monitor bound, a real mp-agent), in
# one run, rows alternating within each round. Prints one JSON figure per line
# (bench/report.py). Usage: hook_latency.rb [REQUESTS] [ROUNDS]
$LOAD_PATH.unshift(File.expand_path("../../clients/ruby/lib", __dir__))
require "json"
require "middlepipe"
require_relative "../../clients/ruby/test/stack"

def emit(row, metric, unit, value)
  puts JSON.generate({ suite: "request-path", row: row, metric: metric, unit: unit, value: value })
end

def percentile(values, p)
  sorted = values.sort
  sorted[[(p / 100.0 * (sorted.size - 1)).round, sorted.size - 1].min]
end

requests = Integer(ARGV.fetch(0, "2000"))
rounds = Integer(ARGV.fetch(1, "3"))
stack = Stack.new
begin
  [%w[circuit-breaker orders-breaker], %w[monitor orders-monitor]].each do |kind, name|
    stack.mp("create-middlepipe", kind, name)
    stack.mp("bind-middlepipe", name, "web", "orders")
  end
  services = { "127.0.0.1:#{stack.service_port}" => "orders" }
  http = Net::HTTP.start("127.0.0.1", stack.service_port)
  rows = {
    "ruby-direct" => -> { Middlepipe.uninstall },
    "ruby-middlepipe" => -> { Middlepipe.install(socket_path: stack.socket, services: services) }
  }
  rows.each_value do |setup| # connections, caches, the aggregator's first decision
    setup.call
    [requests / 10, 50].max.times { http.get("/orders") }
  end
  sleep 1
  rounds.times do
    p50 = {}
    p99 = {}
    rows.each do |row, setup|
      setup.call
      latencies = Array.new(requests) do
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        abort "hook_latency: #{row} call failed" unless http.get("/orders").code == "200"
        (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1e6
      end
      p50[row] = percentile(latencies, 50)
      p99[row] = percentile(latencies, 99)
      emit(row, "latency_p50", "us", p50[row])
      emit(row, "latency_p99", "us", p99[row])
    end
    emit("ruby-middlepipe", "added_latency_p50", "us", p50["ruby-middlepipe"] - p50["ruby-direct"])
    emit("ruby-middlepipe", "added_latency_p99", "us", p99["ruby-middlepipe"] - p99["ruby-direct"])
  end
ensure
  Middlepipe.uninstall
  stack.close
end
