#include "adapters/voltha/detail/onos_http.hpp"

#include "adapters/http/client.hpp"
#include "adapters/http/trace.hpp"
#include "common/effect_gate.hpp"

#include <curl/curl.h>
#include <memory>

namespace ispflow::adapters::voltha::detail {

namespace {

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct curl_global {
  curl_global() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
  }
};

struct easy_deleter {
  void operator()(CURL* h) const noexcept {
    curl_easy_cleanup(h);
  }
};

} // namespace

http_answer onos_request(const tenant_settings& settings,
                         std::string_view method, const std::string& path,
                         const std::string& traceparent) {
  static curl_global init;
  http_answer res;
  if (!common::effect_gate::open()) {
    res.transport = http_transport::not_sent;
    res.error = common::effect_gate::closed_text;
    return res;
  }
  // One easy handle per calling thread, reset before each call: its
  // connection cache keeps the ONOS connection open between calls.
  thread_local std::unique_ptr<CURL, easy_deleter> h{curl_easy_init()};
  if (h)
    curl_easy_reset(h.get());
  if (!h) {
    res.transport = http_transport::not_sent;
    res.error = "curl_easy_init failed";
    return res;
  }
  auto url = settings.onos_url;
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  url += path;
  std::string verb{method};
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.get(), CURLOPT_CUSTOMREQUEST, verb.c_str());
  // The tagged services routes are @Consumes(APPLICATION_JSON): Jersey
  // answers 415 to libcurl's default form content type for a POST. Every
  // call says JSON (with an empty body).
  struct slist_deleter {
    void operator()(curl_slist* l) const noexcept {
      curl_slist_free_all(l);
    }
  };
  std::unique_ptr<curl_slist, slist_deleter> headers{
    curl_slist_append(nullptr, "Accept: application/json")};
  if (verb == "POST" || verb == "DELETE")
    headers.reset(
      curl_slist_append(headers.release(), "Content-Type: application/json"));
  if (auto tp = http::child_traceparent(traceparent); !tp.empty())
    headers.reset(
      curl_slist_append(headers.release(), ("traceparent: " + tp).c_str()));
  if (verb == "POST") {
    curl_easy_setopt(h.get(), CURLOPT_POST, 1L);
    curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
  // Every olt app call may go out on the kept-alive connection, a POST
  // too: libcurl re-sends a request whose reused connection died before
  // any answer, and the olt app's POST and DELETE are idempotent
  // (contracts.md: a repeat answers 204, nothing to do).
  // Names the calling instance, as every other HTTP adapter call does.
  auto user_agent = http::default_user_agent();
  curl_easy_setopt(h.get(), CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(h.get(), CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
  curl_easy_setopt(h.get(), CURLOPT_USERNAME, settings.onos_user.c_str());
  curl_easy_setopt(h.get(), CURLOPT_PASSWORD, settings.onos_password.c_str());
  curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(settings.http_timeout.count()));
  curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings.http_timeout.count()));
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &res.body);
  curl_easy_setopt(h.get(), CURLOPT_ERRORBUFFER, errbuf);
  auto rc = curl_easy_perform(h.get());
  if (rc == CURLE_OK) {
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &res.status);
    return res;
  }
  res.error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  long sent = 0;
  curl_easy_getinfo(h.get(), CURLINFO_REQUEST_SIZE, &sent);
  res.transport = sent > 0 ? http_transport::lost_after_send
                           : http_transport::not_sent;
  return res;
}

} // namespace ispflow::adapters::voltha::detail
