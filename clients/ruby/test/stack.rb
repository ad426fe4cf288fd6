# frozen_string_literal: true

require "fileutils"
require "json"
require "net/http"
require "open3"
require "tmpdir"

# A real stack for the end-to-end test: mp-controller, one mp-agent for app "web", the
# sample service registered as "orders", driven with `mp`. Binaries come from
# $MP_BIN_DIR (Bazel's runfiles when the project's test command runs it), else bazel-bin.
class Stack
  REPO = File.expand_path("../../..", __dir__)
  BINARIES = { controller: "controller/mp-controller", agent: "filter-agent/mp-agent", mp: "cli/mp",
               service: "platform/examples/sample-service" }.freeze

  attr_reader :socket, :service_port

  def self.binary(name)
    File.join(ENV.fetch("MP_BIN_DIR", File.join(REPO, "bazel-bin")), BINARIES.fetch(name))
  end

  def self.present?
    BINARIES.keys.all? { |name| File.executable?(binary(name)) }
  end

  def initialize
    @directory = Dir.mktmpdir("mp-rb-e2e-", "/tmp") # short: Unix socket paths
    @pids = []
    @socket = File.join(@directory, "agent.sock")
    @target = "unix://#{File.join(@directory, 'controller.sock')}"
    start(:controller, [Stack.binary(:controller), "--data-dir", File.join(@directory, "data"), "--grpc-listen",
                        @target, "--http-listen", "127.0.0.1:0"], "grpc listening on")
    @token = File.read(File.join(@directory, "data", "admin-token")).strip
    token_file = File.join(@directory, "token")
    File.write(token_file, @token)
    File.chmod(0o600, token_file)
    line = start(:service, [Stack.binary(:service), "--listen", "127.0.0.1:0"], "listening on")
    @service_port = line[/:(\d+)\s*\z/, 1].to_i
    start(:agent, [Stack.binary(:agent), "--controller", @target, "--app", "web", "--token-file", token_file,
                   "--socket", @socket], "running epoch 0")
    mp("register-service", "orders", "127.0.0.1:#{@service_port}")
  end

  def mp(*args)
    out, err, status = Open3.capture3({ "MP_CONTROLLER" => @target, "MP_TOKEN" => @token }, Stack.binary(:mp), *args)
    raise "mp #{args.join(' ')}: #{err}" unless status.success?

    out
  end

  def url(path = "/orders", port = @service_port)
    URI("http://127.0.0.1:#{port}#{path}")
  end

  # Another sample service, registered as name; its port.
  def start_service(name)
    line = start(name.to_sym, [Stack.binary(:service), "--listen", "127.0.0.1:0"], "listening on")
    port = line[/:(\d+)\s*\z/, 1].to_i
    mp("register-service", name, "127.0.0.1:#{port}")
    port
  end

  def failing=(on)
    unhooked { Net::HTTP.post(url("/control/fail?on=#{on ? 1 : 0}"), "") }
  end

  def service_calls(port = @service_port)
    unhooked { JSON.parse(Net::HTTP.get(url("/control/stats", port)))["calls"] }
  end

  # The test's own control calls to the service are not the app's: no middlepipe.
  def unhooked
    outer = Thread.current[:middlepipe_inside]
    Thread.current[:middlepipe_inside] = true
    yield
  ensure
    Thread.current[:middlepipe_inside] = outer
  end

  # Stops one process and returns its log (what it said last included).
  def stop(name)
    pid = @pid_of.fetch(name)
    Process.kill("TERM", pid)
    Process.wait(pid)
    @pids.delete(pid)
    File.read(File.join(@directory, "#{name}.log"))
  end

  def close
    @pids.reverse_each { |pid| Process.kill("TERM", pid) rescue nil }
    @pids.each { |pid| Process.wait(pid) rescue nil }
    FileUtils.remove_entry(@directory)
  end

  private

  def start(name, argv, ready)
    log = File.join(@directory, "#{name}.log")
    @pids << Process.spawn(*argv, out: File::NULL, err: log, chdir: @directory)
    (@pid_of ||= {})[name] = @pids.last
    deadline = Time.now + 30
    while Time.now < deadline
      found = File.exist?(log) && File.readlines(log).find { |l| l.include?(ready) }
      return found if found

      sleep 0.02
    end
    raise "#{name} did not start: #{File.read(log)}"
  end
end
