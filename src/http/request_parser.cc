// RequestParser over Beast's basic_parser: the only file of the HTTP layer that includes Beast.
// Beast tokenizes the request line, fields and chunked framing, enforces the header byte limit
// and Content-Length vs body limit, and rejects conflicting Content-Length/Transfer-Encoding; the
// callbacks below build the Request and add what Beast leaves to the application (field count,
// Host, transfer codings, target form, percent-decoding, versions).
#include "http/request_parser.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <limits>

#include "http/wire.h"

namespace bastion::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::string_view View(beast::string_view s) { return std::string_view(s.data(), s.size()); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == prefix;
}

// Fills target/path/query from the request-target; returns an error message or "".
std::string ParseTarget(std::string_view method, std::string_view target, Request& r) {
  if (target == "*") {
    if (method != "OPTIONS") return "request target '*' is only allowed with OPTIONS";
    r.target = r.path = "*";
    return "";
  }
  if (StartsWithNoCase(target, "http://") || StartsWithNoCase(target, "https://")) {
    // absolute-form (RFC 9112 3.2.2): servers must accept it; the authority is not used.
    const size_t authority = target.find("://") + 3;
    const size_t slash = target.find_first_of("/?", authority);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    if (target.front() == '?') return "absolute request target without a path";
  }
  if (target.empty() || target.front() != '/') return "request target must be a path starting with '/'";
  r.target = std::string(target);
  const std::string_view without_fragment = target.substr(0, target.find('#'));
  const size_t q = without_fragment.find('?');
  const std::string_view raw_path = without_fragment.substr(0, q);
  if (q != std::string_view::npos) r.query = std::string(without_fragment.substr(q + 1));
  auto path = PercentDecode(raw_path, /*plus_as_space=*/false);
  if (!path) return "malformed percent-escape (or encoded NUL) in the request path";
  r.path = std::move(*path);
  return "";
}

// A well-formed request line naming a version Beast refuses ("HTTP/2.0"): 505, not 400.
bool IsOtherHttpVersion(std::string_view data) {
  std::string_view line = data.substr(0, data.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() < 9) return false;
  const std::string_view v = line.substr(line.size() - 9);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  const bool supported = v[6] == '1' && (v[8] == '0' || v[8] == '1');  // then the error is elsewhere
  return v.substr(0, 6) == " HTTP/" && digit(v[6]) && v[7] == '.' && digit(v[8]) && !supported;
}

}  // namespace

class RequestParser::Impl final : public bhttp::basic_parser<true> {
 public:
  explicit Impl(RequestParser* owner) : owner_(owner) {
    const ServerLimits& limits = owner->limits_;
    header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
    eager(true);
  }

 private:
  // A callback's own verdict; Feed reports the status recorded by Fail, not Beast's code.
  void Reject(beast::error_code& ec, int status, std::string message) {
    owner_->Fail(status, std::move(message));
    ec = bhttp::error::bad_value;
  }

  void on_request_impl(bhttp::verb /*method*/, beast::string_view method_str, beast::string_view target,
                       int version, beast::error_code& ec) override {
    Request& r = owner_->request_;
    r.method = std::string(View(method_str));
    r.version = version;
    if (version != 10 && version != 11) {
      return Reject(ec, 505, "HTTP version " + std::to_string(version / 10) + "." + std::to_string(version % 10) +
                                 " is not supported (1.0 and 1.1 are)");
    }
    const std::string error = ParseTarget(r.method, View(target), r);
    if (!error.empty()) return Reject(ec, 400, error);
  }

  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = bhttp::error::bad_method;  // never called for a request parser
  }

  void on_field_impl(bhttp::field /*name*/, beast::string_view name, beast::string_view value,
                     beast::error_code& ec) override {
    if (is_header_done()) return;  // trailer fields of a chunked body: not used by this server
    RequestParser& p = *owner_;
    if (++p.header_count_ > p.limits_.max_header_count) {
      return Reject(ec, 431, "more than " + std::to_string(p.limits_.max_header_count) + " header fields");
    }
    std::string key = Lower(View(name));
    const std::string_view v = Trim(View(value));
    if (key == "host") ++p.host_count_;
    if (key == "expect" && Lower(v) == "100-continue") p.expect_continue_ = true;
    if (key == "transfer-encoding") {
      if (!p.transfer_encoding_.empty()) p.transfer_encoding_ += ",";
      p.transfer_encoding_ += Lower(v);
    }
    p.request_.headers.emplace_back(std::move(key), std::string(v));
  }

  void on_header_impl(beast::error_code& ec) override {
    RequestParser& p = *owner_;
    p.request_.received_ns = wire::SteadyNowNs();
    if (p.request_.version == 11 && p.host_count_ != 1) {
      return Reject(ec, 400, p.host_count_ == 0 ? "HTTP/1.1 request without a Host header"
                                                 : "more than one Host header");
    }
    if (!p.transfer_encoding_.empty()) {
      // RFC 9112 6.1: a 1.0 message with Transfer-Encoding is faulty; codings other than a lone
      // "chunked" would leave the body length to a coding this server does not implement.
      if (p.request_.version == 10) return Reject(ec, 400, "Transfer-Encoding in an HTTP/1.0 request");
      std::string codings;
      for (const char c : p.transfer_encoding_) {
        if (c != ' ' && c != '\t') codings.push_back(c);
      }
      if (codings != "chunked") return Reject(ec, 501, "unsupported Transfer-Encoding '" + p.transfer_encoding_ + "'");
    }
  }

  void on_body_init_impl(boost::optional<std::uint64_t> const& content_length, beast::error_code&) override {
    // Beast has already compared Content-Length with body_limit, so this is bounded.
    if (content_length) owner_->request_.body.reserve(static_cast<size_t>(*content_length));
  }

  size_t AppendBody(beast::string_view body, beast::error_code& ec) {
    std::string& out = owner_->request_.body;
    if (out.size() + body.size() > owner_->limits_.max_body_bytes) {
      Reject(ec, 413, "request body larger than " + std::to_string(owner_->limits_.max_body_bytes) + " bytes");
      return 0;
    }
    out.append(body.data(), body.size());
    return body.size();
  }

  size_t on_body_impl(beast::string_view body, beast::error_code& ec) override { return AppendBody(body, ec); }

  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}

  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code& ec) override {
    return AppendBody(body, ec);
  }

  void on_finish_impl(beast::error_code&) override {}

  RequestParser* owner_;
};

RequestParser::RequestParser(const ServerLimits& limits) : limits_(limits) { Reset(); }

RequestParser::~RequestParser() = default;

void RequestParser::Reset() {
  impl_ = std::make_unique<Impl>(this);
  request_ = Request();
  started_ = false;
  expect_continue_ = false;
  header_count_ = 0;
  host_count_ = 0;
  transfer_encoding_.clear();
  error_status_ = 0;
  error_message_.clear();
}

void RequestParser::Fail(int status, std::string message) {
  if (error_status_ != 0) return;  // the first reason wins
  error_status_ = status;
  error_message_ = std::move(message);
}

RequestParser::FeedResult RequestParser::Feed(std::string_view data) {
  if (error_status_ != 0) return {State::kError, 0};
  if (impl_->is_done()) return {State::kComplete, 0};
  size_t consumed = 0;
  if (!started_) {
    // RFC 9112 2.2: a server should ignore blank lines received before a request-line.
    while (consumed < data.size() && (data[consumed] == '\r' || data[consumed] == '\n')) ++consumed;
    if (consumed == data.size()) return {State::kNeedMore, consumed};
    started_ = true;
  }
  while (true) {
    beast::error_code ec;
    const std::string_view rest = data.substr(consumed);
    const size_t n = impl_->put(boost::asio::const_buffer(rest.data(), rest.size()), ec);
    consumed += n;
    if (ec == bhttp::error::need_more) return {State::kNeedMore, consumed};
    if (ec) {
      if (error_status_ == 0) {
        if (ec == bhttp::error::header_limit) {
          // The request line alone not fitting is "URI too long" rather than "header too large".
          const bool line_done = rest.substr(0, limits_.max_header_bytes).find('\n') != std::string_view::npos;
          Fail(line_done || impl_->is_header_done() ? 431 : 414,
               line_done ? "request header larger than " + std::to_string(limits_.max_header_bytes) + " bytes"
                         : "request line longer than " + std::to_string(limits_.max_header_bytes) + " bytes");
        } else if (ec == bhttp::error::bad_version && IsOtherHttpVersion(rest)) {
          Fail(505, "HTTP version not supported (1.0 and 1.1 are)");
        } else if (ec == bhttp::error::body_limit) {
          Fail(413, "request body larger than " + std::to_string(limits_.max_body_bytes) + " bytes");
        } else {
          Fail(400, "malformed request: " + ec.message());
        }
      }
      return {State::kError, consumed};
    }
    if (impl_->is_done()) return {State::kComplete, consumed};
    if (n == 0 || consumed == data.size()) return {State::kNeedMore, consumed};
  }
}

bool RequestParser::header_done() const { return impl_->is_header_done(); }

bool RequestParser::expects_continue() const {
  return expect_continue_ && impl_->is_header_done() && !impl_->is_done() && error_status_ == 0;
}

bool RequestParser::keep_alive() const { return impl_->is_header_done() && impl_->keep_alive(); }

Request RequestParser::TakeRequest() { return std::move(request_); }

Request RequestParser::PartialRequest() const { return request_; }

}  // namespace bastion::http
