// Every limit the HTTP server enforces on a client, as named constants with their defaults, and
// the ServerLimits struct that carries them (the serve config can override each one).
//
// Why these numbers: a request to this server is a JSON document of a chat (a long one is a few
// hundred KiB; 8 MiB leaves room for base64 images later) and a handful of headers. Anything much
// larger or slower is a broken or hostile client, and every open connection costs a file
// descriptor and a 16 KiB read buffer, so the server closes it with the status the RFCs name.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace bastion::http {

// Request line plus all header fields, in bytes. Past it: 431 (414 when the request line alone
// does not fit). nginx's default large_client_header_buffers is 4 x 8 KiB; 16 KiB is as generous.
inline constexpr size_t kDefaultMaxHeaderBytes = 16 * 1024;
// Header fields per request. Past it: 431. Real clients send 5-20.
inline constexpr int kDefaultMaxHeaderCount = 100;
// Request body (after chunked decoding), in bytes. Past it: 413, checked against Content-Length
// before the body is read when there is one.
inline constexpr size_t kDefaultMaxBodyBytes = 8 * 1024 * 1024;
// From the first byte of a request (or the accept) to the end of its header. Past it: 408 and
// close. This is the slowloris defence: it bounds the whole header, not each read.
inline constexpr std::chrono::milliseconds kDefaultHeaderTimeout = std::chrono::seconds(10);
// From the end of the header to the end of the body. Past it: 408 and close (8 MiB in 30 s is
// about 280 KB/s, slower than any client that means it).
inline constexpr std::chrono::milliseconds kDefaultBodyTimeout = std::chrono::seconds(30);
// A kept-alive connection with no request in progress is closed (silently) after this.
inline constexpr std::chrono::milliseconds kDefaultIdleTimeout = std::chrono::seconds(60);
// A response write that makes no progress for this long (the client stopped reading) closes the
// connection and cancels the request, so a stalled client cannot pin an engine slot forever.
inline constexpr std::chrono::milliseconds kDefaultSendTimeout = std::chrono::seconds(60);
// Open client connections. Past it a new connection gets 503 with Retry-After and is closed.
inline constexpr int kDefaultMaxConnections = 512;
// Open connections from one client address (0 = no limit), so one host cannot take all of
// max_connections. Past it: 429 with Retry-After, then close. Browsers open 6 per host and SDKs
// pool a few dozen at most; addresses of trusted proxies are exempt (all their clients share it).
inline constexpr int kDefaultMaxConnectionsPerIp = 64;

// Limits that are not configurable: they bound the server's own bookkeeping.
// Bytes read from the socket per read call (one buffer per connection).
inline constexpr size_t kReadChunkBytes = 16 * 1024;
// While a request is being handled the server keeps reading (to notice a client that goes away);
// bytes of pipelined requests beyond this are left in the socket until the response is done.
inline constexpr size_t kMaxPipelinedBytes = 64 * 1024;
// After the last response on a connection the server shuts down its sending side and reads (and
// drops) what the client still sends, at most this long and this much, before closing. Closing
// with unread input would make the kernel send RST, which can destroy the response in flight.
inline constexpr std::chrono::milliseconds kLingerTimeout = std::chrono::seconds(2);
inline constexpr size_t kMaxLingerBytes = 1024 * 1024;
// Connections beyond max_connections that still get a 503 (the rest are closed at once), so a
// flood of connections cannot make the server hold unbounded descriptors while it answers 503s.
inline constexpr int kRejectSlack = 64;
// A client-supplied X-Request-Id is reused only if it is this short and made of safe characters.
inline constexpr size_t kMaxClientRequestIdBytes = 128;

struct ServerLimits {
  size_t max_header_bytes = kDefaultMaxHeaderBytes;
  int max_header_count = kDefaultMaxHeaderCount;
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  std::chrono::milliseconds header_timeout = kDefaultHeaderTimeout;
  std::chrono::milliseconds body_timeout = kDefaultBodyTimeout;
  std::chrono::milliseconds idle_timeout = kDefaultIdleTimeout;
  std::chrono::milliseconds send_timeout = kDefaultSendTimeout;
  int max_connections = kDefaultMaxConnections;
  int max_connections_per_ip = kDefaultMaxConnectionsPerIp;
};

}  // namespace bastion::http
