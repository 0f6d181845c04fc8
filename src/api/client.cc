#include "api/client.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace privcast::api {

int SendWithFds(int sock, std::string_view data, const std::vector<int>& fds) {
  size_t off = 0;
  bool fds_sent = fds.empty();
  while (off < data.size() || !fds_sent) {
    struct iovec iov;
    char dummy = 0;
    if (off < data.size()) {
      iov.iov_base = const_cast<char*>(data.data() + off);
      iov.iov_len = data.size() - off;
    } else {
      iov.iov_base = &dummy;
      iov.iov_len = 1;
    }
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> cbuf;
    if (!fds_sent) {
      cbuf.resize(CMSG_SPACE(sizeof(int) * fds.size()));
      msg.msg_control = cbuf.data();
      msg.msg_controllen = cbuf.size();
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    fds_sent = true;
    off += static_cast<size_t>(n);
  }
  return 0;
}

Status Client::Connect() {
  if (fd_.valid()) return Status::Ok();
  // The exact wording is part of the CLI's contract (docs/cli.md).
  auto unreachable = [&](const std::string&) {
    return Unavailable("cannot reach privcastd at unix:" + path_ + " (is it running? set --api or PRIVCAST_API)");
  };
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(sa.sun_path)) return unreachable("socket path too long");
  std::memcpy(sa.sun_path, path_.data(), path_.size());
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return unreachable(std::strerror(errno));
  fd_ = std::move(fd);
  buf_.clear();
  return Status::Ok();
}

Status Client::Send(std::string_view method, std::string_view target, std::string_view body,
                    const std::vector<int>& fds) {
  std::string req;
  req.reserve(128 + body.size());
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: privcastd\r\n");
  req += "User-Agent: privcast\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  req.append(body);
  int err = SendWithFds(fd_.get(), req, fds);
  peer_closed_ = err == EPIPE || err == ECONNRESET;
  if (err != 0) return ErrnoStatus("sending to privcastd", err);
  return Status::Ok();
}

Status Client::ReadMore() {
  char tmp[16384];
  for (;;) {
    ssize_t n = ::read(fd_.get(), tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("reading from privcastd", errno);
    if (n == 0) return Unavailable("privcastd closed the connection");
    buf_.append(tmp, static_cast<size_t>(n));
    return Status::Ok();
  }
}

Result<http::ResponseHead> Client::ReadHead() {
  for (;;) {
    http::ResponseHead head;
    auto r = http::ParseResponseHead(buf_, 64 * 1024, &head);
    if (r.kind == http::ParseResult::Kind::kOk) {
      buf_.erase(0, r.consumed);
      return head;
    }
    if (r.kind == http::ParseResult::Kind::kError) return Status(Code::kIo, "bad response from privcastd: " + r.error);
    PC_RETURN_IF_ERROR(ReadMore());
  }
}

Result<int> Client::Stream(std::string_view method, std::string_view target, std::string_view body,
                           const std::function<bool(std::string_view)>& on_data, const std::vector<int>& fds) {
  bool fresh = !fd_.valid();
  PC_RETURN_IF_ERROR(Connect());
  Status st = Send(method, target, body, fds);
  // A server that turned the connection away (e.g. too many API connections) may have
  // answered and closed before our request went out: that answer is still there to read.
  auto head = st.ok() || peer_closed_ ? ReadHead() : Result<http::ResponseHead>(st);
  if (!st.ok() && !head.ok()) head = st;
  if (!head.ok() && !fresh && fds.empty()) {
    // A kept-alive connection the server closed meanwhile: retry once on a new one.
    fd_.reset();
    PC_RETURN_IF_ERROR(Connect());
    PC_RETURN_IF_ERROR(Send(method, target, body, fds));
    head = ReadHead();
  }
  if (!head.ok()) {
    fd_.reset();
    return head.status();
  }
  bool keep = head->keep_alive;
  auto finish = [&](Status s) -> Result<int> {
    if (!s.ok()) {
      fd_.reset();
      return s;
    }
    if (!keep) fd_.reset();
    return head->status;
  };
  if (head->chunked) {
    http::ChunkedDecoder dec;
    std::string out;
    for (;;) {
      out.clear();
      if (!dec.Feed(buf_, &out)) return finish(Status(Code::kIo, "bad chunked response from privcastd"));
      buf_.clear();
      if (!out.empty() && !on_data(out)) {
        fd_.reset();
        return head->status;
      }
      if (dec.done()) return finish(Status::Ok());
      Status r = ReadMore();
      if (!r.ok()) return finish(Status(Code::kIo, "privcastd closed the stream early"));
    }
  }
  if (head->content_length) {
    size_t left = *head->content_length;
    for (;;) {
      size_t take = std::min(left, buf_.size());
      if (take > 0) {
        std::string piece = buf_.substr(0, take);
        buf_.erase(0, take);
        left -= take;
        if (!on_data(piece)) {
          fd_.reset();
          return head->status;
        }
      }
      if (left == 0) return finish(Status::Ok());
      Status r = ReadMore();
      if (!r.ok()) return finish(Status(Code::kIo, "privcastd closed the connection mid-response"));
    }
  }
  // Close-delimited.
  keep = false;
  for (;;) {
    if (!buf_.empty()) {
      std::string piece = std::move(buf_);
      buf_.clear();
      if (!on_data(piece)) break;
    }
    Status r = ReadMore();
    if (!r.ok()) break;
  }
  fd_.reset();
  return head->status;
}

Result<Client::Response> Client::Call(std::string_view method, std::string_view target, std::string_view body,
                                      const std::vector<int>& fds) {
  Response resp;
  auto st = Stream(
      method, target, body,
      [&](std::string_view d) {
        resp.body.append(d);
        return true;
      },
      fds);
  if (!st.ok()) return st.status();
  resp.status = *st;
  return resp;
}

}  // namespace privcast::api
