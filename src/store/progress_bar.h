// Pull progress for people: on a terminal one line redrawn in place (carriage return) with the
// bytes, percentage, a bar, the rate and the time left; elsewhere (a log, a pipe, CI) a plain line
// every few seconds or every 10%, and a final line, so logs stay short and readable.
//
//   pulling 3f2a8c1b0e4d  45% [=========>           ] 223.0 MB/494.0 MB  12.3 MB/s  22s
//   pulling 3f2a8c1b0e4d: 45% (223.0 MB of 494.0 MB, 12.3 MB/s, 22s left)
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>
#include <utility>

namespace bastion::store {

// Decimal units, as download tools and Ollama show them: "0 B", "999 B", "1.5 kB", "494.0 MB",
// "4.7 GB".
std::string FormatBytes(uint64_t bytes);
// "12.3 MB/s"; "-" for a rate that is not known yet.
std::string FormatRate(double bytes_per_second);
// "7s", "4m05s", "2h03m"; "-" for negative/unknown.
std::string FormatDuration(double seconds);

// Rate over a sliding window of recent samples (so a stall shows, and an old burst does not).
class RateMeter {
 public:
  explicit RateMeter(std::chrono::milliseconds window = std::chrono::seconds(5)) : window_(window) {}
  void Add(std::chrono::steady_clock::time_point now, uint64_t completed);
  // Bytes per second; negative when there is not enough data yet.
  double Rate() const;

 private:
  std::chrono::milliseconds window_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> samples_;
};

// The redrawn terminal line (without the leading '\r'), `width` columns at most.
std::string FormatBarLine(const std::string& label, uint64_t completed, uint64_t total, double rate, int width);
// The plain line.
std::string FormatPlainLine(const std::string& label, uint64_t completed, uint64_t total, double rate);

class ProgressBar {
 public:
  // `out` is written to only; `tty` picks the style (the caller decides with isatty).
  ProgressBar(std::FILE* out, bool tty, int width = 80);

  // A step without a byte count ("pulling manifest", "verifying sha256 digest"): its own line.
  void Status(const std::string& text);
  // Bytes of `label` (a download); redraws or prints as the style wants.
  void Update(const std::string& label, uint64_t completed, uint64_t total);
  // Ends the current download's display with a final line.
  void Finish();
  // A message (a retry, a warning) that must not be drawn over.
  void Note(const std::string& text);

  // For tests: the clock the bar reads.
  void SetClockForTest(std::chrono::steady_clock::time_point now) { test_now_ = now; }

 private:
  std::chrono::steady_clock::time_point Now() const;
  void ClearLine();

  std::FILE* out_;
  bool tty_;
  int width_;
  RateMeter meter_;
  std::string label_;
  uint64_t completed_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point start_{};  // of the current download, for its average rate
  uint64_t start_completed_ = 0;
  double FinalRate() const;
  bool line_open_ = false;  // tty: a bar is on the current line
  std::chrono::steady_clock::time_point last_draw_{}, last_plain_{};
  int last_plain_decile_ = -1;
  std::chrono::steady_clock::time_point test_now_{};
};

}  // namespace bastion::store
