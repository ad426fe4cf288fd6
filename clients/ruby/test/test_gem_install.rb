# frozen_string_literal: true

require_relative "support"
require "open3"
require "tmpdir"

# The gem builds and installs from the repository, as the README says, offline.
class GemInstallTest < Minitest::Test
  def test_gem_build_and_install
    Dir.mktmpdir("mp-gem-", "/tmp") do |scratch|
      source = File.join(scratch, "ruby")
      FileUtils.mkdir_p(source)
      FileUtils.cp_r(Dir[File.expand_path("../{lib,middlepipe.gemspec}", __dir__)], source)
      _, err, status = Open3.capture3("gem", "build", "middlepipe.gemspec", chdir: source)
      assert status.success?, err
      home = File.join(scratch, "gems")
      _, err, status = Open3.capture3("gem", "install", "--local", "--install-dir", home,
                                      Dir[File.join(source, "middlepipe-*.gem")].first, chdir: scratch)
      assert status.success?, err
      out, err, status = Open3.capture3({ "GEM_HOME" => home, "GEM_PATH" => home }, "ruby", "-e",
                                        'require "middlepipe"; print Middlepipe::VERSION', chdir: scratch)
      assert status.success?, err
      assert_equal Middlepipe::VERSION, out
    end
  end
end
