// AttachPty with real ptys and pipes (no privileges needed): the relay copies both ways,
// drains the machine's output and ends once every slave is closed, never touches the
// user's fd flags, applies the window size at open and on a resize byte, and ends when the
// client goes away or on Stop().
#include "daemon/attach_pty.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace privcast::daemon {
namespace {

using namespace std::chrono_literals;

// A guard against a hang, not a performance bound: the relay either ends or it is broken.
constexpr auto kHang = 30s;

struct Pipe {
  UniqueFd rd, wr;
  Pipe() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    rd.reset(p[0]);
    wr.reset(p[1]);
  }
};

// Reads fd until `want` bytes arrived or EOF/error; poll-bounded by kHang.
std::string ReadN(int fd, size_t want) {
  std::string got;
  char buf[8192];
  auto deadline = std::chrono::steady_clock::now() + kHang;
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, want - got.size()));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

void MakeRaw(int fd) {
  struct termios t;
  ASSERT_EQ(::tcgetattr(fd, &t), 0);
  ::cfmakeraw(&t);
  ASSERT_EQ(::tcsetattr(fd, TCSANOW, &t), 0);
}

std::pair<uint16_t, uint16_t> SizeOf(int fd) {
  struct winsize ws {};
  EXPECT_EQ(::ioctl(fd, TIOCGWINSZ, &ws), 0);
  return {ws.ws_row, ws.ws_col};
}

bool WaitUntil(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + kHang;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

// Waits for the relay to end, bounded by kHang; true when it ended by itself.
bool Ends(AttachPty& pty) {
  auto f = std::async(std::launch::async, [&] { pty.Wait(); });
  if (f.wait_for(kHang) == std::future_status::ready) return true;
  pty.Stop();  // so the failure is reported instead of hanging in the future's destructor
  return false;
}

// Writes all of `data` to a blocking fd (a slave: it blocks while the relay does not drain).
void WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    ASSERT_GT(n, 0);
    off += static_cast<size_t>(n);
  }
}

class AttachPtyTest : public ::testing::Test {
 protected:
  void SetUp() override { ::signal(SIGPIPE, SIG_IGN); }

  AttachPty& Open(uint16_t rows, uint16_t cols) {
    auto opened = AttachPty::Open(rows, cols);
    PC_CHECK_MSG(opened.ok(), opened.status().ToString());
    pty_ = std::move(opened).value();
    return *pty_;
  }

  std::unique_ptr<AttachPty> pty_;
};

TEST_F(AttachPtyTest, CopiesBothWaysDrainsAndEndsWhenTheSlaveCloses) {
  AttachPty& pty = Open(24, 80);
  EXPECT_EQ(pty.slave_name().rfind("/dev/pts/", 0), 0u) << pty.slave_name();
  MakeRaw(pty.slave());  // exact bytes: no echo, no \n → \r\n (a shell sets its own modes)
  Pipe in, out;
  int in_flags = ::fcntl(in.rd.get(), F_GETFL), out_flags = ::fcntl(out.wr.get(), F_GETFL);
  pty.Start({in.rd.get(), out.wr.get(), -1, -1}, nullptr);

  // user → machine
  ASSERT_EQ(::write(in.wr.get(), "typed\n", 6), 6);
  EXPECT_EQ(ReadN(pty.slave(), 6), "typed\n");

  // machine → user: more than every buffer on the way, written and the slave closed at once;
  // all of it must still arrive, then the relay ends.
  std::string burst(512 * 1024, 'x');
  for (size_t i = 0; i < burst.size(); i += 997) burst[i] = static_cast<char>('a' + i % 26);
  auto reader = std::async(std::launch::async, [&] { return ReadN(out.rd.get(), burst.size()); });
  WriteAll(pty.slave(), burst);
  pty.CloseSlave();
  ASSERT_TRUE(Ends(pty)) << "the relay did not end after the last slave closed";
  EXPECT_TRUE(reader.get() == burst) << "output lost or reordered";
  EXPECT_EQ(::fcntl(in.rd.get(), F_GETFL), in_flags) << "the user's input fd flags changed";
  EXPECT_EQ(::fcntl(out.wr.get(), F_GETFL), out_flags) << "the user's output fd flags changed";
}

TEST_F(AttachPtyTest, OutputTheUserCannotTakeIsDroppedAndTheMachineNeverBlocks) {
  AttachPty& pty = Open(0, 0);
  Pipe out;
  out.rd.reset();  // nobody reads: writes fail with EPIPE
  pty.Start({-1, out.wr.get(), -1, -1}, nullptr);
  std::string burst(512 * 1024, 'y');
  WriteAll(pty.slave(), burst);  // would block forever if the relay stopped draining the master
  pty.CloseSlave();
  EXPECT_TRUE(Ends(pty));
}

TEST_F(AttachPtyTest, WindowSizeAtOpenAndOnResize) {
  AttachPty& pty = Open(33, 101);
  EXPECT_EQ(SizeOf(pty.slave()), std::make_pair(uint16_t{33}, uint16_t{101}));

  // The user's terminal: another pty; the relay reads its size from the user's out fd.
  UniqueFd outer(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(outer.valid());
  ASSERT_EQ(::grantpt(outer.get()), 0);
  ASSERT_EQ(::unlockpt(outer.get()), 0);
  UniqueFd user(::open(::ptsname(outer.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(user.valid());
  Pipe resize;
  pty.Start({-1, user.get(), resize.rd.get(), -1}, nullptr);

  struct winsize ws {};
  ws.ws_row = 40;
  ws.ws_col = 120;
  ASSERT_EQ(::ioctl(outer.get(), TIOCSWINSZ, &ws), 0);
  EXPECT_EQ(SizeOf(pty.slave()), std::make_pair(uint16_t{33}, uint16_t{101})) << "resized before the signal";
  ASSERT_EQ(::write(resize.wr.get(), "w", 1), 1);
  EXPECT_TRUE(WaitUntil([&] { return SizeOf(pty.slave()) == std::make_pair(uint16_t{40}, uint16_t{120}); }))
      << SizeOf(pty.slave()).first << "x" << SizeOf(pty.slave()).second;

  // A closed resize pipe (the CLI went away) does not end or break the relay.
  resize.wr.reset();
  ws.ws_row = 50;
  ASSERT_EQ(::ioctl(outer.get(), TIOCSWINSZ, &ws), 0);
  pty.CloseSlave();
  EXPECT_TRUE(Ends(pty));
}

TEST_F(AttachPtyTest, EndsWhenTheClientGoesWhileTheMachineRuns) {
  AttachPty& pty = Open(0, 0);
  int sp[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  UniqueFd server(sp[0]), client(sp[1]);
  std::atomic<bool> gone{false};
  Pipe in, out;
  pty.Start({in.rd.get(), out.wr.get(), -1, server.get()}, [&] { return gone.load(); });
  // Stray bytes from the client are not a hang-up: the relay keeps going.
  ASSERT_EQ(::write(client.get(), "z", 1), 1);
  MakeRaw(pty.slave());
  ASSERT_EQ(::write(in.wr.get(), "still\n", 6), 6);
  EXPECT_EQ(ReadN(pty.slave(), 6), "still\n");
  gone = true;
  client.reset();
  EXPECT_TRUE(Ends(pty)) << "the relay outlived its client";  // the slave is still open here
}

TEST_F(AttachPtyTest, StopEndsTheRelay) {
  AttachPty& pty = Open(0, 0);
  Pipe in, out;
  pty.Start({in.rd.get(), out.wr.get(), -1, -1}, nullptr);
  pty.Stop();
  EXPECT_TRUE(Ends(pty));
}

}  // namespace
}  // namespace privcast::daemon
