#include "store/progress_bar.h"

#include <algorithm>
#include <cmath>

namespace bastion::store {
namespace {

// A redraw at most this often on a terminal; a plain line at most this often elsewhere (or at
// every 10%).
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr auto kPlainInterval = std::chrono::seconds(10);

std::string Percent(uint64_t completed, uint64_t total) {
  if (total == 0) return "";
  const int pct = static_cast<int>(std::min<uint64_t>(100, completed * 100 / total));
  return std::to_string(pct) + "%";
}

std::string Eta(uint64_t completed, uint64_t total, double rate) {
  if (total == 0 || rate <= 0 || completed > total) return "-";
  return FormatDuration(static_cast<double>(total - completed) / rate);
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  static const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes) / 1000.0;
  int unit = 0;
  while (v >= 999.95 && unit < 4) {
    v /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string FormatRate(double bytes_per_second) {
  if (!(bytes_per_second >= 0) || !std::isfinite(bytes_per_second)) return "-";
  return FormatBytes(static_cast<uint64_t>(bytes_per_second)) + "/s";
}

std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "-";
  const uint64_t s = static_cast<uint64_t>(std::llround(std::min(seconds, 1e9)));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  }
  return buf;
}

void RateMeter::Add(std::chrono::steady_clock::time_point now, uint64_t completed) {
  if (!samples_.empty() && completed < samples_.back().second) samples_.clear();  // restarted from zero
  samples_.emplace_back(now, completed);
  while (samples_.size() > 2 && now - samples_.front().first > window_) samples_.pop_front();
}

double RateMeter::Rate() const {
  if (samples_.size() < 2) return -1;
  const double dt = std::chrono::duration<double>(samples_.back().first - samples_.front().first).count();
  if (dt < 0.2) return -1;
  return static_cast<double>(samples_.back().second - samples_.front().second) / dt;
}

std::string FormatBarLine(const std::string& label, uint64_t completed, uint64_t total, double rate, int width) {
  const std::string head = label + " " + (total ? Percent(completed, total) : "");
  const std::string bytes = total ? FormatBytes(completed) + "/" + FormatBytes(total) : FormatBytes(completed);
  const std::string tail = bytes + "  " + FormatRate(rate) + (total ? "  " + Eta(completed, total, rate) : "");
  std::string line = head;
  const int bar = width - static_cast<int>(head.size() + tail.size()) - 5;
  if (total && bar >= 10) {
    const int cells = std::min(bar, 25);  // a steady width: the bar does not breathe with the numbers
    const int filled = static_cast<int>(std::min<uint64_t>(completed, total) * static_cast<uint64_t>(cells) / total);
    std::string b(static_cast<size_t>(cells), ' ');
    for (int i = 0; i < filled; ++i) b[static_cast<size_t>(i)] = '=';
    if (filled < cells) b[static_cast<size_t>(filled)] = '>';
    line += " [" + b + "]";
  }
  line += " " + tail;
  if (static_cast<int>(line.size()) > width && width > 0) line.resize(static_cast<size_t>(width));
  return line;
}

std::string FormatPlainLine(const std::string& label, uint64_t completed, uint64_t total, double rate) {
  std::string line = label + ": ";
  if (total) {
    line += Percent(completed, total) + " (" + FormatBytes(completed) + " of " + FormatBytes(total) + ", " +
            FormatRate(rate) + ", " + Eta(completed, total, rate) + " left)";
  } else {
    line += FormatBytes(completed) + " (" + FormatRate(rate) + ")";
  }
  return line;
}

ProgressBar::ProgressBar(std::FILE* out, bool tty, int width) : out_(out), tty_(tty), width_(width) {}

std::chrono::steady_clock::time_point ProgressBar::Now() const {
  return test_now_ != std::chrono::steady_clock::time_point{} ? test_now_ : std::chrono::steady_clock::now();
}

void ProgressBar::ClearLine() {
  if (tty_ && line_open_) {
    std::fputs("\r\x1b[K", out_);
    line_open_ = false;
  }
}

void ProgressBar::Status(const std::string& text) {
  Finish();
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

void ProgressBar::Note(const std::string& text) {
  ClearLine();
  std::fprintf(out_, "%s\n", text.c_str());
  if (tty_ && !label_.empty()) {
    std::fprintf(out_, "%s", FormatBarLine(label_, completed_, total_, meter_.Rate(), width_).c_str());
    line_open_ = true;
  }
  std::fflush(out_);
}

void ProgressBar::Update(const std::string& label, uint64_t completed, uint64_t total) {
  const auto now = Now();
  if (label != label_) {
    Finish();
    label_ = label;
    meter_ = RateMeter();
    start_ = now;
    start_completed_ = completed;
    last_plain_ = now;
    last_plain_decile_ = total ? static_cast<int>(completed * 10 / total) : 0;
  }
  completed_ = completed;
  total_ = total;
  meter_.Add(now, completed);
  if (tty_) {
    if (line_open_ && now - last_draw_ < kRedrawInterval && completed != total) return;
    last_draw_ = now;
    std::fprintf(out_, "\r%s\x1b[K", FormatBarLine(label_, completed, total, meter_.Rate(), width_).c_str());
    line_open_ = true;
  } else {
    const int decile = total ? static_cast<int>(std::min<uint64_t>(completed, total) * 10 / total) : 0;
    if (decile == last_plain_decile_ && now - last_plain_ < kPlainInterval) return;
    if (total && completed >= total) return;  // Finish prints the 100% line
    last_plain_decile_ = decile;
    last_plain_ = now;
    std::fprintf(out_, "%s\n", FormatPlainLine(label_, completed, total, meter_.Rate()).c_str());
  }
  std::fflush(out_);
}

// The last rate of a finished download: the recent window's, or the average over the whole
// download when it was too short for a window.
double ProgressBar::FinalRate() const {
  const double rate = meter_.Rate();
  if (rate >= 0) return rate;
  const double dt = std::chrono::duration<double>(Now() - start_).count();
  return dt > 0 && completed_ >= start_completed_ ? static_cast<double>(completed_ - start_completed_) / dt : -1;
}

void ProgressBar::Finish() {
  if (label_.empty()) return;
  if (tty_) {
    std::fprintf(out_, "\r%s\x1b[K\n", FormatBarLine(label_, completed_, total_, FinalRate(), width_).c_str());
  } else {
    std::fprintf(out_, "%s\n", FormatPlainLine(label_, completed_, total_, FinalRate()).c_str());
  }
  line_open_ = false;
  label_.clear();
  std::fflush(out_);
}

}  // namespace bastion::store
