#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

namespace bastion::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<uint64_t> g_reopen_requests{0};

// The sink. The descriptor is swapped under the mutex (reopen, Configure); writers take the lock
// only to read it, and write(2) outside it is safe because a replaced descriptor is closed only
// after no writer can hold it (the lock is held for the write too: lines are rare compared to
// requests, and ordering them is worth one uncontended lock).
struct Sink {
  std::mutex mu;
  std::string path = "-";
  int fd = STDERR_FILENO;
  uint64_t generation = 0;
};

Sink& TheSink() {
  static Sink* sink = new Sink();  // never destroyed: threads may log during exit
  return *sink;
}

int OpenAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

void WriteAll(int fd, const std::string& line) {
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report a failing log; drop the line
    off += static_cast<size_t>(n);
  }
}

// Reopens the file after a SIGUSR1 (caller holds the lock). A failure keeps the old file and
// says so in it.
void ReopenIfRequested(Sink& s) {
  const uint64_t generation = g_reopen_requests.load(std::memory_order_relaxed);
  if (generation == s.generation) return;
  s.generation = generation;
  if (s.path == "-") return;
  const int fd = OpenAppend(s.path);
  if (fd < 0) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    WriteAll(s.fd, FormatLine(std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), Level::kError,
                              "log", "cannot reopen " + s.path + ": " + std::strerror(errno) +
                                         " (still writing to the old file)"));
    return;
  }
  if (s.fd != STDERR_FILENO) ::close(s.fd);
  s.fd = fd;
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kNotice: return "notice";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kCrit: return "crit";
  }
  return "?";
}

std::optional<Level> ParseLevel(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "notice") return Level::kNotice;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  if (name == "crit") return Level::kCrit;
  return std::nullopt;
}

Status Configure(const Options& options) {
  Sink& s = TheSink();
  int fd = STDERR_FILENO;
  if (options.path != "-") {
    fd = OpenAppend(options.path);
    if (fd < 0) return Error("cannot open the error log " + options.path + ": " + std::strerror(errno));
  }
  std::lock_guard lock(s.mu);
  if (s.fd != STDERR_FILENO) ::close(s.fd);
  s.fd = fd;
  s.path = options.path;
  s.generation = g_reopen_requests.load();
  g_min_level.store(static_cast<int>(options.min_level), std::memory_order_relaxed);
  return OkStatus();
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

void Write(Level level, std::string_view component, std::string_view message) {
  if (!Enabled(level)) return;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const std::string line =
      FormatLine(std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), level, component, message);
  Sink& s = TheSink();
  std::lock_guard lock(s.mu);
  ReopenIfRequested(s);
  WriteAll(s.fd, line);
}

void RequestReopen() { g_reopen_requests.fetch_add(1, std::memory_order_relaxed); }
uint64_t ReopenGeneration() { return g_reopen_requests.load(std::memory_order_relaxed); }

void AppendEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
}

std::string FormatLine(int64_t unix_ms, Level level, std::string_view component, std::string_view message) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[96];  // room for any int the format could print (GCC checks)
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  std::string line;
  line.reserve(64 + component.size() + message.size());
  line += stamp;
  line += " [";
  line += LevelName(level);
  line += "] ";
  if (!component.empty()) {
    line += component;
    line += ": ";
  }
  AppendEscaped(line, message);
  line += '\n';
  return line;
}

bool AdmitRequestLine() {
  static std::mutex mu;
  static int64_t window = -1;       // steady-clock second the counts are for
  static int admitted = 0;
  static uint64_t suppressed = 0;
  static int64_t suppressed_since = 0;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  uint64_t report = 0;
  int64_t report_seconds = 0;
  bool admit = false;
  {
    std::lock_guard lock(mu);
    if (now != window) {
      if (suppressed > 0) {
        report = suppressed;
        report_seconds = now - suppressed_since;
        suppressed = 0;
      }
      window = now;
      admitted = 0;
    }
    if (admitted < kMaxRequestLinesPerSecond) {
      ++admitted;
      admit = true;
    } else {
      if (suppressed++ == 0) suppressed_since = now;
    }
  }
  if (report > 0) {
    Write(Level::kWarn, "log", std::to_string(report) + " lines about refused requests were left out in the last " +
                                   std::to_string(std::max<int64_t>(1, report_seconds)) + " s (at most " +
                                   std::to_string(kMaxRequestLinesPerSecond) + " a second are written)");
  }
  return admit;
}

}  // namespace bastion::log
