// Test environment for the netns module: a private "host" netns per test and observers.
//
// Every test runs privcast's code against a host netns it creates (/tmp/pcnt-<pid>-<n>/ns/host)
// and removes on every path (destructor; plus a sweep of leftovers of dead test processes at
// start). Observers use system tools (ip, nft, ping, curl) through `nsenter --net=<path>`;
// the library itself never shells out.
#pragma once

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "netns/ip.h"

namespace privcast::netns::testing {

struct ShellResult {
  int rc = -1;
  std::string out;
};
ShellResult Sh(const std::string& cmd);  // /bin/sh -c, stdout+stderr captured

class TestHost {
 public:
  TestHost();
  ~TestHost();
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  bool ok() const { return nsfd_.valid(); }
  const std::string& base() const { return base_; }
  std::string ns_dir() const { return base_ + "/ns"; }
  std::string host_path() const { return ns_dir() + "/host"; }
  int nsfd() const { return nsfd_.get(); }
  // Runs `cmd` inside the netns at `path` (default: the test host).
  ShellResult In(const std::string& cmd, const std::string& path = "") const;
  // Observable state used by the "leaves nothing behind" checks.
  std::string Snapshot() const;
  // Files in ns_dir() and mounts under it, sorted.
  std::vector<std::string> NetnsFiles() const;
  std::vector<std::string> MountsUnder() const;

 private:
  std::string base_;
  UniqueFd nsfd_;
};

// TCP helpers; all sockets are created inside the netns given by fd.
Result<UniqueFd> ListenTcp(int nsfd, const IpAddr& addr, uint16_t* port, bool v6only = false);
// Non-blocking connect with a deadline; Ok when established, else the errno/timeout text.
Result<UniqueFd> ConnectTcp(int nsfd, const IpAddr& addr, uint16_t port, int timeout_ms);
// Accepts one connection within timeout_ms.
Result<UniqueFd> AcceptOne(int listen_fd, int timeout_ms);

}  // namespace privcast::netns::testing
