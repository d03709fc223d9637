// A deliberately small HTTP/1.1 client over POSIX sockets for the server tests: it sends raw bytes
// (so tests can send malformed, pipelined or slow requests) and reads responses with deadlines,
// keeping chunk boundaries so streaming tests can see what arrived when.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bastion::http::testing {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::vector<std::string> chunks;  // chunked responses: each chunk as framed by the server
  bool chunked = false;

  const std::string* Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  std::string HeaderOr(std::string_view name, std::string fallback = "") const {
    const std::string* v = Header(name);
    return v ? *v : fallback;
  }
};

class TestClient {
 public:
  // Connects to 127.0.0.1:port; fd() < 0 on failure.
  explicit TestClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TestClient() { Close(); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  int fd() const { return fd_; }
  bool connected() const { return fd_ >= 0; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes with RST instead of FIN (SO_LINGER 0): a client that crashed.
  void Reset() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    Close();
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one full response (Content-Length, chunked, or to EOF). `head_request`: no body.
  std::optional<RawResponse> ReadResponse(Ms timeout = Ms(5000), bool head_request = false) {
    const auto deadline = Clock::now() + timeout;
    auto head = ReadHead(deadline);
    if (!head) return std::nullopt;
    RawResponse r = std::move(*head);
    if (head_request || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) return r;
    if (r.chunked) {
      while (true) {
        auto chunk = ReadChunk(deadline);
        if (!chunk) return std::nullopt;
        if (chunk->empty()) return r;
        r.body += *chunk;
        r.chunks.push_back(std::move(*chunk));
      }
    }
    if (const std::string* cl = r.Header("content-length")) {
      const size_t n = std::strtoull(cl->c_str(), nullptr, 10);
      if (!FillTo(n, deadline)) return std::nullopt;
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
      return r;
    }
    // Close-delimited.
    while (Fill(deadline)) {
    }
    if (!eof_) return std::nullopt;
    r.body = std::move(buf_);
    buf_.clear();
    return r;
  }

  // The status line and headers only.
  std::optional<RawResponse> ReadHead(Clock::time_point deadline) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    const std::string head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    RawResponse r;
    size_t pos = head.find("\r\n");
    const std::string status_line = head.substr(0, pos);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    r.status = std::atoi(status_line.c_str() + 9);
    pos += 2;
    while (pos < head.size()) {
      const size_t eol = head.find("\r\n", pos);
      const std::string line = head.substr(pos, eol - pos);
      pos = eol + 2;
      const size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(std::move(name), std::move(value));
    }
    r.chunked = r.HeaderOr("transfer-encoding") == "chunked";
    return r;
  }

  // One chunk of a chunked body; "" for the last chunk; nullopt on timeout or EOF.
  std::optional<std::string> ReadChunk(Clock::time_point deadline) {
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    const size_t size = std::strtoull(buf_.substr(0, eol).c_str(), nullptr, 16);
    if (!FillTo(eol + 2 + size + 2, deadline)) return std::nullopt;
    std::string data = buf_.substr(eol + 2, size);
    buf_.erase(0, eol + 2 + size + 2);
    return data;
  }
  std::optional<std::string> ReadChunk(Ms timeout = Ms(5000)) { return ReadChunk(Clock::now() + timeout); }

  // True when the server closed the connection (EOF or reset) within `timeout`; unread response
  // bytes before the close are kept in `leftover` when given.
  bool WaitClosed(Ms timeout, std::string* leftover = nullptr) {
    const auto deadline = Clock::now() + timeout;
    while (Fill(deadline)) {
    }
    if (leftover) *leftover = buf_;
    return eof_;
  }

  // Everything buffered but not yet consumed.
  const std::string& buffered() const { return buf_; }

 private:
  // Reads more bytes; false on EOF/error (eof_ set) or at the deadline.
  bool Fill(Clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready <= 0) return false;
    char tmp[16384];
    const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  bool FillTo(size_t n, Clock::time_point deadline) {
    while (buf_.size() < n) {
      if (!Fill(deadline)) return false;
    }
    return true;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// "GET /path HTTP/1.1" with a Host header and optional extra header lines ("Name: value\r\n").
inline std::string Get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}
inline std::string Post(std::string_view path, std::string_view body, std::string_view extra = "") {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(extra) + "\r\n" + std::string(body);
}

}  // namespace bastion::http::testing
