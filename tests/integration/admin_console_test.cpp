#include "tests/integration/admin_fixture.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <regex>
#include <spawn.h>
#include <sstream>
#include <sys/file.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

using namespace ispflow;
using namespace ispflow::actors::admin;
using namespace admin_fixture;

namespace {

namespace fs = std::filesystem;

// The console's sources and where screenshots go (admin_console.cmake).
const fs::path console_dir = ISPFLOW_CONSOLE_DIR;
const fs::path artifact_dir = ISPFLOW_TEST_ARTIFACTS;

// chromedriver listens on the first free port of this range.
constexpr uint16_t first_driver_port = 21980;
constexpr uint16_t last_driver_port = 21999;

// W3C WebDriver's key of an element reference.
constexpr const char* element_key = "element-6066-11e4-a52e-4f735466cecf";

std::string slurp(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The program `env` names, else `fallback`; "" unless it is executable.
std::string program(const char* env, const char* fallback) {
  const char* v = std::getenv(env);
  std::string path = v != nullptr && *v != '\0' ? v : fallback;
  return ::access(path.c_str(), X_OK) == 0 ? path : std::string{};
}

std::string quote(std::string_view s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return buf.GetString();
}

std::string unbase64(std::string_view in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    if (v < 0)
      continue;
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

// Polls `f` every 100 ms until it holds or `limit` passes.
bool eventually(const std::function<bool()>& f,
                std::chrono::seconds limit = std::chrono::seconds{60}) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (f())
      return true;
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

// A headless Chromium driven through chromedriver's W3C WebDriver HTTP API:
// chromedriver runs in a process group of its own, so that the browser it
// starts goes with it.
class browser {
public:
  browser() = default;
  browser(const browser&) = delete;
  browser& operator=(const browser&) = delete;

  ~browser() {
    if (!session_.empty() && client_)
      call("DELETE", "/session/" + session_, "");
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      int status = 0;
      bool gone
        = eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; },
                     std::chrono::seconds{10});
      if (!gone) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    if (!profile_.empty()) {
      std::error_code ec;
      fs::remove_all(profile_, ec);
    }
    if (lock_fd_ >= 0)
      ::close(lock_fd_);
  }

  // Starts chromedriver and a browser session; "" or why it failed.
  std::string launch(const std::string& driver, const std::string& chromium,
                     const std::string& log_name) {
    // One browser at a time on this machine: the browser tests run in
    // parallel processes under ctest -j, and two chromedrivers raced for the
    // same port (one bound IPv4, the other failed on IPv6 and exited).
    lock_fd_ = ::open("/tmp/ispflow-console-browser.lock", O_CREAT | O_RDWR,
                      0600);
    if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX) != 0)
      return "cannot take /tmp/ispflow-console-browser.lock";
    fs::create_directories(artifact_dir);
    char tmpl[] = "/tmp/ispflow-console-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      return "mkdtemp failed";
    profile_ = tmpl;
    auto log = (artifact_dir / log_name).string();
    std::ofstream{log, std::ios::trunc};
    for (auto port = first_driver_port; port <= last_driver_port; ++port) {
      if (!spawn(driver, port, log))
        return "cannot start " + driver;
      int status = 0;
      bool ready = eventually(
        [&] {
          if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = 0;
            return true;
          }
          httplib::Client c{"127.0.0.1", port};
          c.set_connection_timeout(1);
          auto res = c.Get("/status");
          if (!res || res->status != 200)
            return false;
          rapidjson::Document d;
          d.Parse(res->body.c_str());
          return !d.HasParseError() && d.IsObject() && d.HasMember("value")
                 && d["value"].IsObject() && d["value"].HasMember("ready")
                 && d["value"]["ready"].IsTrue();
        },
        std::chrono::seconds{20});
      if (pid_ == 0)
        continue;
      if (!ready)
        return "chromedriver did not become ready (see " + log + ")";
      client_ = std::make_unique<httplib::Client>("127.0.0.1", port);
      client_->set_read_timeout(120, 0);
      client_->set_write_timeout(30, 0);
      break;
    }
    if (!client_)
      return "no free port for chromedriver in 21980-21999";
    auto caps = R"({"capabilities":{"alwaysMatch":{"browserName":"chrome",)"
                R"("goog:chromeOptions":{"binary":)"
                + quote(chromium) + R"(,"args":["--headless=new",)"
                + R"("--no-sandbox","--disable-gpu","--disable-dev-shm-usage",)"
                + R"("--no-first-run","--window-size=1366,1000",)"
                + R"("--user-data-dir=)" + profile_ + R"("]}}}})";
    auto res = call("POST", "/session", caps);
    if (!res.IsObject() || !res.HasMember("sessionId"))
      return "no WebDriver session: " + last_body_;
    session_ = res["sessionId"].GetString();
    return {};
  }

  // The "value" of a WebDriver command; Null when the command failed (the
  // answer is kept in last_body_).
  rapidjson::Document call(const std::string& method, const std::string& path,
                           const std::string& body) {
    rapidjson::Document out;
    out.SetNull();
    httplib::Result res = method == "GET" ? client_->Get(path.c_str())
                          : method == "DELETE"
                            ? client_->Delete(path.c_str())
                            : client_->Post(path.c_str(), body,
                                            "application/json");
    if (!res) {
      last_body_ = "no answer from chromedriver";
      return out;
    }
    last_body_ = res->body;
    rapidjson::Document d;
    d.Parse(res->body.c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("value"))
      return out;
    if (res->status != 200)
      return out;
    out.CopyFrom(d["value"], out.GetAllocator());
    return out;
  }

  rapidjson::Document command(const std::string& method,
                              const std::string& path,
                              const std::string& body = "{}") {
    return call(method, "/session/" + session_ + path, body);
  }

  const std::string& last_answer() const {
    return last_body_;
  }

  void go(const std::string& url) {
    command("POST", "/url", R"({"url":)" + quote(url) + "}");
  }

  // The first element `css` matches, "" when none.
  std::string find(const std::string& css) {
    auto v = command("POST", "/element",
                     R"({"using":"css selector","value":)" + quote(css) + "}");
    if (!v.IsObject() || !v.HasMember(element_key))
      return {};
    return v[element_key].GetString();
  }

  size_t count(const std::string& css) {
    auto v = command("POST", "/elements",
                     R"({"using":"css selector","value":)" + quote(css) + "}");
    return v.IsArray() ? v.Size() : 0;
  }

  // Waits for a displayed element that `css` matches; "" when none shows.
  std::string await(const std::string& css) {
    std::string id;
    bool shown = eventually([&] {
      id = find(css);
      return !id.empty() && displayed(id);
    });
    if (!shown) {
      ADD_FAILURE() << "no displayed element matches " << css
                    << "; chromedriver's last answer: " << last_body_;
      return {};
    }
    return id;
  }

  bool displayed(const std::string& id) {
    auto v = command("GET", "/element/" + id + "/displayed");
    return v.IsBool() && v.GetBool();
  }

  bool click(const std::string& css) {
    auto id = await(css);
    if (id.empty())
      return false;
    command("POST", "/element/" + id + "/click");
    return true;
  }

  bool type(const std::string& css, const std::string& text) {
    auto id = await(css);
    if (id.empty())
      return false;
    command("POST", "/element/" + id + "/clear");
    command("POST", "/element/" + id + "/value",
            R"({"text":)" + quote(text) + "}");
    return true;
  }

  // The rendered text of the first element `css` matches.
  std::string text(const std::string& css) {
    auto id = find(css);
    if (id.empty())
      return {};
    auto v = command("GET", "/element/" + id + "/text");
    return v.IsString() ? v.GetString() : std::string{};
  }

  // Waits until the text of `css` contains `part`; the last text seen.
  std::string await_text(const std::string& css, const std::string& part) {
    std::string seen;
    eventually([&] {
      seen = text(css);
      return seen.find(part) != std::string::npos;
    });
    return seen;
  }

  // Runs `script` (a function body) in the page; its result as JSON text.
  std::string run(const std::string& script) {
    auto v = command("POST", "/execute/sync",
                     R"({"script":)" + quote(script) + R"(,"args":[]})");
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w{buf};
    v.Accept(w);
    return buf.GetString();
  }

  // Saves a PNG of the window under the artifact directory; its path or "".
  std::string screenshot(const std::string& name) {
    auto v = command("GET", "/screenshot");
    if (!v.IsString())
      return {};
    auto path = artifact_dir / name;
    std::ofstream out{path, std::ios::binary};
    out << unbase64({v.GetString(), v.GetStringLength()});
    out.close();
    return out ? path.string() : std::string{};
  }

private:
  bool spawn(const std::string& driver, uint16_t port, const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    auto port_arg = "--port=" + std::to_string(port);
    std::vector<char*> argv{const_cast<char*>(driver.c_str()),
                            const_cast<char*>(port_arg.c_str()), nullptr};
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, driver.c_str(), &fa, &attr, argv.data(),
                           environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
      return false;
    pid_ = pid;
    return true;
  }

  pid_t pid_ = 0;
  int lock_fd_ = -1;
  std::string profile_;
  std::unique_ptr<httplib::Client> client_;
  std::string session_;
  std::string last_body_;
};

class admin_console : public admin_api {
protected:
  std::string base_url() {
    return "http://127.0.0.1:" + std::to_string(server->port());
  }

  // A browser on the console, or nullptr after GTEST_SKIP / a failure.
  std::unique_ptr<browser> open_browser(const std::string& log_name) {
    auto driver = program("ISPFLOW_CHROMEDRIVER", "/usr/bin/chromedriver");
    auto chromium = program("ISPFLOW_CHROMIUM", "/usr/bin/chromium");
    if (driver.empty() || chromium.empty())
      return nullptr;
    auto b = std::make_unique<browser>();
    auto why = b->launch(driver, chromium, log_name);
    if (!why.empty()) {
      ADD_FAILURE() << why;
      return nullptr;
    }
    return b;
  }

  static bool browser_missing() {
    return program("ISPFLOW_CHROMEDRIVER", "/usr/bin/chromedriver").empty()
           || program("ISPFLOW_CHROMIUM", "/usr/bin/chromium").empty();
  }

  static void use_token(browser& b, const std::string& token) {
    ASSERT_TRUE(b.type("#token", token)) << b.last_answer();
    ASSERT_TRUE(b.click("#token-save")) << b.last_answer();
  }
};

#define SKIP_WITHOUT_BROWSER()                                                 \
  if (browser_missing())                                                       \
  GTEST_SKIP() << "chromium or chromedriver is not installed (looked for "     \
                  "/usr/bin/chromium and /usr/bin/chromedriver, or "           \
                  "ISPFLOW_CHROMIUM / ISPFLOW_CHROMEDRIVER): install the "     \
                  "Debian packages chromium and chromium-driver"

} // namespace

// -- the static files ---------------------------------------------------------

TEST_F(admin_console, serves_the_embedded_files_without_a_token) {
  struct want {
    const char* path;
    const char* file;
    const char* type;
  };
  for (auto& w :
       {want{"/console/", "index.html", "text/html; charset=utf-8"},
        want{"/console/index.html", "index.html", "text/html; charset=utf-8"},
        want{"/console/app.js", "app.js", "text/javascript; charset=utf-8"},
        want{"/console/app.css", "app.css", "text/css; charset=utf-8"}}) {
    auto res = client->Get(w.path);
    ASSERT_TRUE(res) << w.path;
    EXPECT_EQ(res->status, 200) << w.path;
    EXPECT_EQ(res->get_header_value("Content-Type"), w.type) << w.path;
    EXPECT_EQ(res->body, slurp(console_dir / w.file)) << w.path;
    auto csp = res->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("form-action 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
  }
}

TEST_F(admin_console, redirects_the_root_to_the_console) {
  for (auto path : {"/", "/console"}) {
    auto res = client->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 302) << path;
    EXPECT_EQ(res->get_header_value("Location"), "/console/") << path;
  }
}

TEST_F(admin_console, answers_404_for_files_that_are_not_part_of_the_console) {
  for (auto path : {"/console/nope.js", "/console/..%2Fserver.cpp",
                    "/console/embed.cmake", "/console/%2E%2E/auth.cpp"}) {
    auto res = client->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->get_header_value("Content-Security-Policy"), "") << path;
  }
}

TEST_F(admin_console, has_no_inline_script_or_style_and_no_external_urls) {
  auto html = client->Get("/console/")->body;
  auto js = client->Get("/console/app.js")->body;
  auto css = client->Get("/console/app.css")->body;
  // Every script is a file of ours; no event-handler or style attributes.
  std::regex script{R"(<script\b([^>]*)>)"};
  int scripts = 0;
  for (std::sregex_iterator i{html.begin(), html.end(), script}, end; i != end;
       ++i) {
    ++scripts;
    EXPECT_NE((*i)[1].str().find("src=\"app.js\""), std::string::npos)
      << (*i)[0];
  }
  EXPECT_EQ(scripts, 1);
  EXPECT_TRUE(
    std::regex_search(html, std::regex{R"(<script [^>]*></script>)"}));
  EXPECT_FALSE(std::regex_search(html, std::regex{R"(\son[a-z]+\s*=)"}));
  EXPECT_FALSE(std::regex_search(html, std::regex{R"(\sstyle\s*=|<style)"}));
  // Every src and href names one of the console's files.
  std::regex ref{R"(\b(?:src|href)\s*=\s*"([^"]*)\")"};
  for (std::sregex_iterator i{html.begin(), html.end(), ref}, end; i != end;
       ++i) {
    auto target = (*i)[1].str();
    EXPECT_TRUE(target == "app.js" || target == "app.css") << target;
  }
  for (auto* body : {&html, &js, &css}) {
    EXPECT_EQ(body->find("http://"), std::string::npos);
    EXPECT_EQ(body->find("https://"), std::string::npos);
    EXPECT_EQ(body->find("@import"), std::string::npos);
  }
  // Data reaches the DOM as text only; the token stays in sessionStorage.
  for (auto sink :
       {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
        "eval(", "new Function", "localStorage", "document.cookie"})
    EXPECT_EQ(js.find(sink), std::string::npos) << sink;
  EXPECT_NE(js.find("sessionStorage"), std::string::npos);
}

// -- the console in a browser
// --------------------------------------------------

TEST_F(admin_console, lists_opens_and_retries_a_saga_in_headless_chromium) {
  SKIP_WITHOUT_BROWSER();
  // A subscriber id that would be markup if it were parsed as HTML.
  db.query(R"sql(
INSERT INTO sagas (id, name, version, tenant_id, subscriber_id, service_type,
                   causation, payload, state, "cursor", generation,
                   cancel_requested, created_at, updated_at)
VALUES ('s-html', 'suspend', 1, 't1', '<img src=x id=injected>', 'ftth',
        'c-html', '{}', 'completed', 0, 0, false, '2024-02-15T00:00:00Z',
        '2024-02-15T00:00:00Z');
)sql");
  auto b = open_browser("chromedriver-retry.log");
  ASSERT_TRUE(b);
  b->go(base_url() + "/");
  ASSERT_FALSE(b->await("#token").empty()) << b->last_answer();
  EXPECT_EQ(b->run("return location.pathname;"), R"("/console/")");
  EXPECT_NE(b->text("#message").find("Enter a token"), std::string::npos);
  use_token(*b, admin_token);

  // The first page: 50 of 123 sagas, newest first; "More" pulls the next.
  ASSERT_TRUE(eventually([&] { return b->count("#saga-rows tr") == 50; }))
    << b->count("#saga-rows tr") << " rows; " << b->text("#message");
  EXPECT_EQ(b->text("#saga-rows tr:first-child td:first-child"), "s-t2");
  ASSERT_TRUE(b->click("#saga-more"));
  EXPECT_TRUE(eventually([&] { return b->count("#saga-rows tr") == 100; }))
    << b->count("#saga-rows tr");
  EXPECT_NE(b->text("#saga-count").find("100 shown"), std::string::npos);

  // A value with markup is shown as text, never parsed.
  auto row = b->text(R"(#saga-rows tr[data-saga-id="s-html"])");
  EXPECT_NE(row.find("<img src=x id=injected>"), std::string::npos) << row;
  EXPECT_EQ(b->run("return document.getElementById('injected') === null;"),
            "true");

  // One saga's timeline.
  ASSERT_TRUE(b->click(R"(#saga-rows button[data-saga-id="s-t1"])"));
  EXPECT_EQ(b->await_text("#d-id", "s-t1"), "s-t1");
  ASSERT_TRUE(eventually([&] { return b->count("#steps tr") == 2; }));
  auto first = b->text(R"(#steps tr[data-step="radius.provision"])");
  EXPECT_NE(first.find("succeeded"), std::string::npos) << first;
  EXPECT_NE(first.find("radius_user"), std::string::npos) << first;
  auto failed = b->text(R"(#steps tr[data-step="netbox.allocate_ip"])");
  EXPECT_NE(failed.find("failed"), std::string::npos) << failed;
  EXPECT_NE(failed.find("HTTP 503"), std::string::npos) << failed;
  EXPECT_EQ(
    b->text(R"(#steps tr[data-step="netbox.allocate_ip"] td:nth-child(4))"),
    "5");
  EXPECT_NE(b->text("#d-fields").find("needs_attention"), std::string::npos);
  // Secrets in the payload arrive redacted.
  auto payload = b->text("#d-payload");
  EXPECT_EQ(payload.find("hunter2"), std::string::npos) << payload;
  EXPECT_NE(payload.find("[redacted]"), std::string::npos) << payload;

  // needs_attention: retry, cancel and replay are offered.
  EXPECT_FALSE(b->await("#action-retry").empty());
  EXPECT_TRUE(b->displayed(b->find("#action-cancel")));
  EXPECT_TRUE(b->displayed(b->find("#action-replay")));

  // Retry asks first; "Back" sends nothing.
  ASSERT_TRUE(b->click("#action-retry"));
  EXPECT_NE(b->await_text("#confirm-text", "Retry saga s-t1").find("s-t1"),
            std::string::npos);
  ASSERT_TRUE(b->click("#confirm-no"));
  EXPECT_TRUE(sagas->calls().empty());
  ASSERT_TRUE(b->click("#action-retry"));
  ASSERT_TRUE(b->click("#confirm-ok"));
  auto result = b->await_text("#result", "Retry of saga s-t1 accepted");
  EXPECT_NE(result.find("Retry of saga s-t1 accepted"), std::string::npos)
    << result;
  EXPECT_EQ(sagas->calls(), std::vector<std::string>{"retry s-t1"});
  EXPECT_EQ(db.count("SELECT count(*) FROM admin_audit WHERE action ="
                     " 'sagas.retry' AND target = 's-t1' AND token_name ="
                     " 'ops-admin' AND status = 200"),
            1);

  // The token is in sessionStorage, not in the URL nor in localStorage.
  EXPECT_EQ(b->run("return [location.href.indexOf('adm-') < 0,"
                   " sessionStorage.getItem('ispflow.console.token'),"
                   " localStorage.length];"),
            std::string{R"([true,")"} + admin_token + R"(",0])");

  auto png = b->screenshot("console.png");
  ASSERT_FALSE(png.empty());
  EXPECT_EQ(slurp(png).substr(1, 3), "PNG");
  std::cout << "screenshot: " << png << std::endl;
  RecordProperty("screenshot", png);
}

TEST_F(admin_console, shows_401_and_403_messages_in_headless_chromium) {
  SKIP_WITHOUT_BROWSER();
  auto b = open_browser("chromedriver-denied.log");
  ASSERT_TRUE(b);
  b->go(base_url() + "/console/");
  ASSERT_FALSE(b->await("#token").empty()) << b->last_answer();

  use_token(*b, "not-a-token");
  auto msg = b->await_text("#message", "(401)");
  EXPECT_NE(msg.find("Not authorised (401)"), std::string::npos) << msg;
  EXPECT_EQ(b->count("#saga-rows tr"), 0u);

  // A reader sees sagas but may not retry: the 403 is shown, nothing sent.
  use_token(*b, reader_token);
  ASSERT_TRUE(eventually([&] { return b->count("#saga-rows tr") > 0; }));
  ASSERT_TRUE(b->click(R"(#saga-rows button[data-saga-id="s-t1"])"));
  ASSERT_TRUE(b->click("#action-retry"));
  ASSERT_TRUE(b->click("#confirm-ok"));
  auto result = b->await_text("#result", "(403)");
  EXPECT_NE(result.find("Forbidden (403)"), std::string::npos) << result;
  EXPECT_NE(result.find("sagas:write"), std::string::npos) << result;
  EXPECT_TRUE(sagas->calls().empty());

  // A tenant token asking for another tenant's sagas.
  use_token(*b, t2_reader_token);
  ASSERT_TRUE(eventually([&] { return b->count("#saga-rows tr") == 1; }));
  ASSERT_TRUE(b->type("#f-tenant", "t1"));
  ASSERT_TRUE(b->click("#saga-search"));
  msg = b->await_text("#message", "(403)");
  EXPECT_NE(msg.find("restricted to another tenant"), std::string::npos) << msg;
  EXPECT_EQ(b->count("#saga-rows tr"), 0u);

  auto png = b->screenshot("console-403.png");
  EXPECT_FALSE(png.empty());
  std::cout << "screenshot: " << png << std::endl;
}

TEST_F(admin_console,
       redrives_a_corrected_dead_letter_and_forces_a_breaker_in_chromium) {
  SKIP_WITHOUT_BROWSER();
  // d1 lacks plan_id; its id as the API lists it.
  auto list = get("/v1/dead-letters?tenant=t1&limit=500", admin_token);
  ASSERT_EQ(list.status, 200) << list.body;
  std::string d1;
  for (auto& item : list.json["items"].GetArray())
    if (item.HasMember("ce_id")
        && std::string{item["ce_id"].GetString()} == "d1")
      d1 = std::to_string(item["id"].GetInt64());
  ASSERT_FALSE(d1.empty());

  auto b = open_browser("chromedriver-dlq.log");
  ASSERT_TRUE(b);
  b->go(base_url() + "/console/");
  ASSERT_FALSE(b->await("#token").empty());
  use_token(*b, admin_token);
  ASSERT_TRUE(b->click("#tab-dead-letters"));
  ASSERT_TRUE(eventually([&] { return b->count("#dl-rows tr") == 7; }))
    << b->count("#dl-rows tr") << " " << b->text("#message");
  ASSERT_TRUE(
    b->click(R"(#dl-rows button[data-dead-letter-id=")" + d1 + R"("])"));
  EXPECT_EQ(b->await_text("#dl-d-id", d1), d1);
  // The stored payload is shown with its password redacted.
  auto shown = b->run("return document.getElementById('dl-payload').value;");
  EXPECT_NE(shown.find("[redacted]"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;

  // The payload is edited: plan_id added, the redacted password restored.
  auto corrected = R"({"schema_version":1,"tenant_id":"t1",)"
                   R"("subscriber_id":"sub-3","plan_id":"fiber-500",)"
                   R"("service_type":"ftth","site":"ams-01",)"
                   R"("access":{"onu_serial":"ALCL1A2B3C4D"},)"
                   R"("credentials":{"username":"u3","password":"hunter2"}})";
  ASSERT_TRUE(b->type("#dl-payload", corrected));
  ASSERT_TRUE(b->click("#dl-redrive-edited"));
  ASSERT_TRUE(b->click("#confirm-ok"));
  auto result = b->await_text("#result", "re-driven as event");
  EXPECT_NE(result.find("Dead letter " + d1 + " re-driven as event"),
            std::string::npos)
    << result;
  EXPECT_EQ(db.count("SELECT count(*) FROM inbox WHERE event_id = 'd1'"), 1);
  EXPECT_EQ(db.count("SELECT count(*) FROM dead_letters WHERE id = " + d1
                     + " AND redriven_at IS NOT NULL"),
            1);
  // Once re-driven, the buttons are off.
  EXPECT_TRUE(eventually([&] {
    return b->run("return document.getElementById('dl-redrive').disabled;")
           == "true";
  }));

  // Breakers: force t1/netbox open.
  ASSERT_TRUE(b->click("#tab-breakers"));
  ASSERT_TRUE(eventually([&] { return b->count("#breaker-rows tr") == 2; }));
  ASSERT_TRUE(b->click(
    R"(#breaker-rows button[data-breaker-id="t1/netbox"][data-action="open"])"));
  ASSERT_TRUE(b->click("#confirm-ok"));
  result = b->await_text("#result", "forced open");
  EXPECT_NE(result.find("Breaker t1/netbox forced open"), std::string::npos)
    << result;
  EXPECT_NE(b->await_text(R"(#breaker-rows tr[data-breaker-id="t1/netbox"])",
                          "forced_open")
              .find("forced_open"),
            std::string::npos);
  auto png = b->screenshot("console-breakers.png");
  EXPECT_FALSE(png.empty());
  std::cout << "screenshot: " << png << std::endl;
}
