#include "sim/common/call_log.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace ispflow::sim::common {

namespace {

// The query parameter `name` as a number, `fallback` when absent or bad.
int64_t number_param(const httplib::Request& req, const char* name,
                     int64_t fallback) {
  if (!req.has_param(name))
    return fallback;
  auto text = req.get_param_value(name);
  char* end = nullptr;
  auto v = std::strtoll(text.c_str(), &end, 10);
  return end != nullptr && *end == '\0' && !text.empty() ? v : fallback;
}

} // namespace

std::string json_text(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string caller_of(std::string_view user_agent) {
  auto close = user_agent.rfind(')');
  if (close == std::string_view::npos)
    return {};
  auto open = user_agent.rfind('(', close);
  if (open == std::string_view::npos)
    return {};
  return std::string{user_agent.substr(open + 1, close - open - 1)};
}

void call_log::record(std::string caller, std::string method,
                      std::string path) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  std::lock_guard guard{mtx_};
  calls_.push_back(
    {now, std::move(caller), std::move(method), std::move(path)});
  if (calls_.size() > capacity_)
    calls_.pop_front();
}

void call_log::serve(const httplib::Request& req, httplib::Response& res) {
  if (req.method == "DELETE") {
    std::lock_guard guard{mtx_};
    calls_.clear();
    res.status = 204;
    return;
  }
  if (req.method != "GET") {
    res.status = 405;
    res.set_header("Allow", "GET, DELETE");
    return;
  }
  auto from = number_param(req, "from_ms", INT64_MIN);
  auto to = number_param(req, "to_ms", INT64_MAX);
  bool by_caller = req.has_param("caller");
  auto caller = req.get_param_value("caller");
  struct summary {
    int64_t calls = 0;
    int64_t first_ms = 0;
    int64_t last_ms = 0;
  };
  std::map<std::string, summary> callers;
  std::string list;
  int64_t matched = 0;
  {
    std::lock_guard guard{mtx_};
    for (auto& c : calls_) {
      auto& s = callers[c.caller];
      if (s.calls++ == 0)
        s.first_ms = c.at_ms;
      s.last_ms = c.at_ms;
      if ((by_caller && c.caller != caller) || c.at_ms < from || c.at_ms > to)
        continue;
      if (matched++ >= 10'000)
        continue;
      if (!list.empty())
        list += ',';
      list += R"({"at_ms":)" + std::to_string(c.at_ms) + R"(,"caller":")"
              + json_text(c.caller) + R"(","method":")" + json_text(c.method)
              + R"(","path":")" + json_text(c.path) + "\"}";
    }
  }
  std::string body = R"({"callers":{)";
  bool first = true;
  for (auto& [name, s] : callers) {
    if (!first)
      body += ',';
    first = false;
    body += '"' + json_text(name) + R"(":{"calls":)" + std::to_string(s.calls)
            + R"(,"first_ms":)" + std::to_string(s.first_ms) + R"(,"last_ms":)"
            + std::to_string(s.last_ms) + '}';
  }
  body += R"(},"matched":)" + std::to_string(matched) + R"(,"calls":[)" + list
          + "]}";
  res.status = 200;
  res.set_content(body, "application/json");
}

} // namespace ispflow::sim::common
