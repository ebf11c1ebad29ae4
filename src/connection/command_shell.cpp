#include "parley/connection/command_shell.hpp"

#include <cstdlib>
#include <vector>

namespace parley::connection {
namespace {

class CommandShell final : public ChannelHandler {
 public:
  explicit CommandShell(std::string user) : user_(std::move(user)) {}

  bool attach(ChannelIo& io) override {
    io_ = &io;
    return true;  // confirm the channel now
  }
  bool on_pty(const PtyRequest& pty) override {
    terminal_ = true;
    cols_ = pty.cols;
    return true;
  }
  void on_window_change(const WindowChange& w) override { cols_ = w.cols; }
  bool on_env(const EnvRequest&) override { return true; }

  bool on_start(const StartRequest& request) override {
    using Kind = StartRequest::Kind;
    if (request.kind == Kind::subsystem) return false;  // no sftp here
    if (request.kind == Kind::exec) {                   // one command, then its status
      const int status = run(request.command);
      finish(status);
      return true;
    }
    say("parley command shell. Type 'help'.\n");
    prompt();
    return true;
  }

  void on_data(BytesView data) override {
    io_->consumed(data.size());  // taken at once: nothing is buffered
    for (std::uint8_t c : data) {
      if (done_) return;
      if (c == '\r' || c == '\n') {
        if (terminal_) say("\n");
        if (c == '\n' && last_was_cr_) {  // "\r\n" from a client without a terminal
          last_was_cr_ = false;
          continue;
        }
        last_was_cr_ = c == '\r';
        const int status = run(line_);
        line_.clear();
        if (done_) return finish(status);
        prompt();
      } else if (c == 0x7f || c == 0x08) {  // backspace
        if (!line_.empty()) {
          line_.pop_back();
          if (terminal_) say("\b \b");
        }
      } else if (c == 0x04 && line_.empty()) {  // ^D at an empty line
        if (terminal_) say("\n");
        return finish(0);
      } else if (c == 0x03) {  // ^C drops the line
        line_.clear();
        if (terminal_) say("^C\n");
        prompt();
      } else if (c >= 0x20 && line_.size() < 1024) {
        line_.push_back(static_cast<char>(c));
        if (terminal_) io_->write(BytesView(&c, 1));
      }
    }
  }
  void on_eof() override { finish(0); }
  void on_closed() override { io_ = nullptr; }

 private:
  /// Runs one command line; returns its exit status.
  int run(const std::string& line) {
    const auto space = line.find(' ');
    const std::string command = line.substr(0, space);
    const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (command.empty()) return 0;
    if (command == "help") {
      say("commands: help, whoami, echo TEXT, width, exit [STATUS]\n");
    } else if (command == "whoami") {
      say(user_ + "\n");
    } else if (command == "echo") {
      say(rest + "\n");
    } else if (command == "width") {
      say(std::to_string(cols_) + "\n");
    } else if (command == "exit") {
      done_ = true;
      return rest.empty() ? 0 : std::atoi(rest.c_str());
    } else {
      say(command + ": unknown command\n");
      return 127;
    }
    return 0;
  }
  void say(std::string text) {
    if (io_ == nullptr) return;
    if (terminal_) {  // a terminal needs "\r\n" to return the carriage
      std::string crlf;
      for (char c : text) {
        if (c == '\n') crlf += '\r';
        crlf += c;
      }
      text = std::move(crlf);
    }
    io_->write(as_bytes(text));  // small: well inside any window
  }
  void prompt() { say(user_ + "> "); }
  void finish(int status) {
    done_ = true;
    if (io_ == nullptr || finished_) return;
    finished_ = true;
    io_->exit_status(static_cast<std::uint32_t>(status));
    io_->eof();
    io_->close();
  }

  std::string user_;
  ChannelIo* io_ = nullptr;
  std::string line_;
  bool terminal_ = false;
  bool last_was_cr_ = false;
  bool done_ = false;
  bool finished_ = false;
  std::uint32_t cols_ = 80;
};

}  // namespace

std::unique_ptr<ChannelHandler> make_command_shell(std::string user) {
  return std::make_unique<CommandShell>(std::move(user));
}

}  // namespace parley::connection
