// etcd.h: the etcd v3 client over the JSON gateway. In three parts: the wire (endpoints, sockets
// with poll()-bounded waits, HTTP/1.1 framing), the JSON (built by hand; read with simdjson), and
// the calls (one request body and one answer reader each).
#include "ledgerd/etcd.h"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

namespace ledgerd::etcd {

using ledger::Status;

namespace {

constexpr size_t kEndpointsMax = 64;
constexpr size_t kHeaderBytesMax = 64 * 1024;
constexpr int kRoundsMax = 3;          // Passes over the endpoints in one call, at most.
constexpr int64_t kRoundPauseMs = 50;  // Between two passes, so a restarting member can come up.
constexpr size_t kReceiveBytesStep = 64 * 1024;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- The wire ---------------------------------------------------------------------------------

// "http://host:port" or "host:port" (host may be "[v6]"); the URL normalized, host and port.
Status ParseEndpoint(std::string_view text, std::string* url, std::string* host, std::string* port) {
  std::string_view rest = text;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  while (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.find("://") != std::string_view::npos || rest.find('/') != std::string_view::npos) {
    return Status::Invalid("endpoints", fmt::format("\"{}\": only http://host:port is served", text));
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::Invalid("endpoints", fmt::format("\"{}\": no host:port", text));
  }
  std::string_view h = rest.substr(0, colon), p = rest.substr(colon + 1);
  int number = 0;
  auto [end, error] = std::from_chars(p.data(), p.data() + p.size(), number);
  if (error != std::errc() || end != p.data() + p.size() || number < 1 || number > 65535) {
    return Status::Invalid("endpoints", fmt::format("\"{}\": the port is not 1 to 65535", text));
  }
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  *host = std::string(h);
  *port = std::string(p);
  *url = fmt::format("http://{}", rest);
  return Status::Ok();
}

// Waits until `fd` is ready for `events` or `deadline_ms` passes: "" or why not.
std::string WaitFor(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    int64_t left_ms = deadline_ms - NowMs();
    if (left_ms <= 0) return "timed out";
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 60000)));
    if (n > 0) return "";
    if (n < 0 && errno != EINTR) return fmt::format("poll: {}", std::strerror(errno));
  }
}

// A non-blocking TCP socket connected to host:port within `deadline_ms` (TCP_NODELAY), or -1.
int Connect(const std::string& host, const std::string& port, int64_t deadline_ms, std::string* why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int e = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); e != 0) {
    *why = fmt::format("resolving {}: {}", host, ::gai_strerror(e));
    return -1;
  }
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = fd < 0 ? -1 : ::connect(fd, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  if (rc != 0 && fd >= 0 && errno == EINPROGRESS) {
    *why = WaitFor(fd, POLLOUT, deadline_ms);
    int error = 0;
    socklen_t size = sizeof error;
    if (why->empty() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0) errno = error;
    rc = why->empty() && error == 0 ? 0 : -1;
  }
  if (rc == 0) return fd;
  if (why->empty()) *why = fmt::format("connect: {}", std::strerror(errno));
  if (fd >= 0) ::close(fd);
  return -1;
}

// Sends all of `data` before `deadline_ms`: "" or why not.
std::string SendAll(int fd, std::string_view data, int64_t deadline_ms) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (std::string why = WaitFor(fd, POLLOUT, deadline_ms); !why.empty()) return why;
    } else if (n < 0 && errno != EINTR) {
      return fmt::format("send: {}", std::strerror(errno));
    }
  }
  return "";
}

// Appends what arrives (at least a byte) before `deadline_ms` to `buffer`: "" or why not.
std::string ReceiveSome(int fd, std::string* buffer, int64_t deadline_ms) {
  if (buffer->size() > kResponseBytesMax + kHeaderBytesMax) return "the answer exceeds kResponseBytesMax";
  for (;;) {
    size_t old_size = buffer->size();
    buffer->resize(old_size + kReceiveBytesStep);
    ssize_t n = ::recv(fd, buffer->data() + old_size, kReceiveBytesStep, 0);
    buffer->resize(old_size + std::max<ssize_t>(n, 0));
    if (n > 0) return "";
    if (n == 0) return "connection closed by etcd";
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (std::string why = WaitFor(fd, POLLIN, deadline_ms); !why.empty()) return why;
    } else if (errno != EINTR) {
      return fmt::format("recv: {}", std::strerror(errno));
    }
  }
}

// One HTTP answer: its status code and body (chunks joined), and whether the server closes.
struct HttpAnswer {
  int status = 0;
  std::string body;
  bool close = false;
};

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

// The status line and the headers that frame the body. -1 in *length: no Content-Length.
bool ParseHead(std::string_view head, HttpAnswer* out, int64_t* length, bool* chunked) {
  if (!head.starts_with("HTTP/1.") || head.size() < 12) return false;
  std::from_chars(head.data() + 9, head.data() + 12, out->status);
  *length = -1;
  *chunked = false;
  for (size_t at = head.find("\r\n"); at != std::string_view::npos && at + 2 < head.size();) {
    size_t end = head.find("\r\n", at + 2);
    std::string_view line = head.substr(at + 2, end - at - 2);
    at = end;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (value.starts_with(" ")) value.remove_prefix(1);
    if (EqualsNoCase(name, "content-length")) std::from_chars(value.data(), value.data() + value.size(), *length);
    if (EqualsNoCase(name, "transfer-encoding")) *chunked = EqualsNoCase(value, "chunked");
    if (EqualsNoCase(name, "connection")) out->close = EqualsNoCase(value, "close");
  }
  return out->status >= 100 && out->status <= 599;
}

// Reads one HTTP answer from `fd`, `buffer` holding what came already; leaves the bytes after it.
class AnswerReader {
 public:
  AnswerReader(int fd, std::string* buffer, int64_t deadline_ms)
      : fd_(fd), buffer_(buffer), deadline_ms_(deadline_ms) {}

  std::string Read(HttpAnswer* out) {
    size_t head_end;
    if (std::string why = Line(0, "\r\n\r\n", &head_end); !why.empty()) return why;
    int64_t length;
    bool chunked;
    if (!ParseHead(std::string_view(*buffer_).substr(0, head_end), out, &length, &chunked)) return "not HTTP";
    size_t at = head_end + 4;
    std::string why = chunked       ? Chunks(at, &out->body, &at)
                      : length >= 0 ? Body(at, length, &out->body, &at)
                                    : "neither Content-Length nor chunked";
    if (why.empty()) buffer_->erase(0, at);
    return why;
  }

 private:
  // Until `buffer_` holds `n` bytes.
  std::string Need(size_t n) {
    while (buffer_->size() < n) {
      if (std::string why = ReceiveSome(fd_, buffer_, deadline_ms_); !why.empty()) return why;
    }
    return "";
  }
  // Until `mark` appears at or after `from`; *at: where.
  std::string Line(size_t from, std::string_view mark, size_t* at) {
    while ((*at = buffer_->find(mark, from)) == std::string::npos) {
      if (buffer_->size() > from + kHeaderBytesMax) return "an HTTP line or head too long";
      if (std::string why = ReceiveSome(fd_, buffer_, deadline_ms_); !why.empty()) return why;
    }
    return "";
  }
  std::string Body(size_t from, int64_t length, std::string* body, size_t* end) {
    if (static_cast<uint64_t>(length) > kResponseBytesMax) return "the answer exceeds kResponseBytesMax";
    if (std::string why = Need(from + length); !why.empty()) return why;
    body->append(*buffer_, from, length);
    *end = from + length;
    return "";
  }
  // "size-in-hex[;ext]CRLF data CRLF" until size 0, then trailer lines until an empty one.
  std::string Chunks(size_t at, std::string* body, size_t* end) {
    for (;;) {
      size_t line_end;
      if (std::string why = Line(at, "\r\n", &line_end); !why.empty()) return why;
      uint64_t size = 0;
      auto [p, error] = std::from_chars(buffer_->data() + at, buffer_->data() + line_end, size, 16);
      if (error != std::errc() || body->size() + size > kResponseBytesMax) return "a malformed or too long chunk";
      at = line_end + 2;
      if (size == 0) return Trailers(at, end);
      if (std::string why = Need(at + size + 2); !why.empty()) return why;
      body->append(*buffer_, at, size);
      at += size + 2;
    }
  }
  std::string Trailers(size_t at, size_t* end) {
    for (;;) {
      size_t line_end;
      if (std::string why = Line(at, "\r\n", &line_end); !why.empty()) return why;
      bool last = line_end == at;
      at = line_end + 2;
      if (last) break;
    }
    *end = at;
    return "";
  }

  int fd_;
  std::string* buffer_;
  int64_t deadline_ms_;
};

// ---- JSON -------------------------------------------------------------------------------------

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// EVP_DecodeBlock writes the padding's bytes as zeros and counts them: they are dropped here.
bool Unbase64(std::string_view text, std::string* out) {
  if (text.size() % 4 != 0) return false;
  out->assign(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t padding = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out->resize(static_cast<size_t>(n) - padding);
  return true;
}

// `text` as a JSON string, quoted and escaped.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Builds one JSON object, field by field. Zeros and empty bytes are left out (proto3 JSON).
class Json {
 public:
  Json& Raw(std::string_view name, std::string_view json) {
    text_ += text_.size() > 1 ? "," : "";
    text_ += Quote(name);
    text_ += ':';
    text_ += json;
    return *this;
  }
  Json& Bytes(std::string_view name, std::string_view bytes, bool always = false) {
    return bytes.empty() && !always ? *this : Raw(name, Quote(Base64(bytes)));
  }
  Json& Int(std::string_view name, int64_t value, bool always = false) {  // int64: a JSON string
    return value == 0 && !always ? *this : Raw(name, Quote(std::to_string(value)));
  }
  Json& Text(std::string_view name, std::string_view text) { return Raw(name, Quote(text)); }
  std::string Done() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

// The JSON array of `items`, each made by `make`.
template <class T, class F>
std::string Array(const std::vector<T>& items, F&& make) {
  std::string out = "[";
  for (const T& item : items) out += (out.size() > 1 ? "," : "") + make(item);
  return out + "]";
}

// Reads the fields of one JSON object; an absent field is zero, false or empty. The first field
// of the wrong type is remembered in *bad (its path), and reads as zero.
class Fields {
 public:
  Fields(simdjson::dom::element e, std::string path, std::string* bad) : path_(std::move(path)), bad_(bad) {
    present_ = e.get_object().get(object_) == simdjson::SUCCESS;
    if (!present_ && bad_->empty()) *bad_ = path_.empty() ? "the answer" : path_;
  }
  bool Has(const char* name) const {
    simdjson::dom::element e;
    return Find(name, &e);
  }
  template <class T = int64_t>
  T Int(const char* name) {  // int64 and uint64 come as strings; numbers are taken too
    simdjson::dom::element e;
    T value = 0;
    if (!Find(name, &e)) return 0;
    std::string_view text;
    if (e.get_string().get(text) == simdjson::SUCCESS) {
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error == std::errc() && end == text.data() + text.size()) return value;
    } else if (e.get<T>().get(value) == simdjson::SUCCESS) {
      return value;
    }
    Bad(name);
    return 0;
  }
  bool Bool(const char* name) {
    simdjson::dom::element e;
    bool value = false;
    if (Find(name, &e) && e.get_bool().get(value) != simdjson::SUCCESS) Bad(name);
    return value;
  }
  std::string Text(const char* name) {
    simdjson::dom::element e;
    std::string_view text;
    if (Find(name, &e) && e.get_string().get(text) != simdjson::SUCCESS) Bad(name);
    return std::string(text);
  }
  std::string Bytes(const char* name) {
    std::string out;
    if (!Unbase64(Text(name), &out)) Bad(name);
    return out;
  }
  Fields Child(const char* name) {
    simdjson::dom::element e;
    return Find(name, &e) ? Fields(e, Path(name), bad_) : Fields(path_, bad_);
  }
  // f(element, path) for each item of the array `name` (none if absent).
  template <class F>
  void Each(const char* name, F&& f) {
    simdjson::dom::element e;
    simdjson::dom::array items;
    if (!Find(name, &e)) return;
    if (e.get_array().get(items) != simdjson::SUCCESS) return Bad(name);
    size_t i = 0;
    for (simdjson::dom::element item : items) f(item, fmt::format("{}[{}]", Path(name), i++));
  }
  std::vector<std::string> Texts(const char* name) {
    std::vector<std::string> out;
    Each(name, [&](simdjson::dom::element item, const std::string& path) {
      std::string_view text;
      if (item.get_string().get(text) != simdjson::SUCCESS && bad_->empty()) *bad_ = path;
      out.emplace_back(text);
    });
    return out;
  }
  std::string* bad() const { return bad_; }

 private:
  Fields(std::string path, std::string* bad) : path_(std::move(path)), bad_(bad) {}  // absent
  bool Find(const char* name, simdjson::dom::element* e) const {
    return present_ && object_[name].get(*e) == simdjson::SUCCESS;
  }
  std::string Path(const char* name) const { return path_.empty() ? name : path_ + "." + name; }
  void Bad(const char* name) {
    if (bad_->empty()) *bad_ = Path(name);
  }

  simdjson::dom::object object_;
  bool present_ = false;
  std::string path_;
  std::string* bad_;
};

simdjson::dom::parser& Parser() {
  thread_local simdjson::dom::parser parser;  // Reused; a Client is used by one thread at a time.
  return parser;
}

// Parses `json` and hands its root object to `read`; Corruption if it is not JSON, or a field
// `read` looked at has the wrong type.
template <class F>
Status ReadJson(std::string_view json, std::string_view what, F&& read) {
  simdjson::dom::element root;
  if (auto error = Parser().parse(json.data(), json.size()).get(root); error != simdjson::SUCCESS) {
    return Status::Corruption(fmt::format("etcd's answer to {} is not JSON: {}", what, simdjson::error_message(error)));
  }
  std::string bad;
  Fields fields(root, "", &bad);
  read(fields);
  if (!bad.empty()) return Status::Corruption(fmt::format("etcd's answer to {}: {} is malformed", what, bad));
  return Status::Ok();
}

KeyValue ReadKeyValue(Fields f) {
  KeyValue kv;
  kv.key = f.Bytes("key");
  kv.value = f.Bytes("value");
  kv.create_revision = f.Int("create_revision");
  kv.mod_revision = f.Int("mod_revision");
  kv.version = f.Int("version");
  kv.lease = f.Int("lease");
  return kv;
}

std::vector<KeyValue> ReadKeyValues(Fields& f) {
  std::vector<KeyValue> kvs;
  f.Each("kvs",
         [&](simdjson::dom::element e, std::string path) { kvs.push_back(ReadKeyValue(Fields(e, path, f.bad()))); });
  return kvs;
}

// gRPC's code of etcd's refusal, as a Status code (etcd.h says which).
Status FromGrpc(int64_t code, std::string reason) {
  switch (code) {
    case 3:   // InvalidArgument: too large, too many ops, bad key
    case 11:  // OutOfRange: compacted, future revision
      return Status::Invalid("", std::move(reason));
    case 5: return Status::NotFound(std::move(reason));
    case 9:   // FailedPrecondition
    case 10:  // Aborted
      return Status::Conflict("", std::move(reason));
    default: return Status::IOError(std::move(reason));
  }
}

// An HTTP error from the gateway: its body is {"error","message","code"} (gRPC's status).
Status Refused(const std::string& url, std::string_view path, const HttpAnswer& answer) {
  std::string message;
  int64_t code = 2;
  Status parsed = ReadJson(answer.body, path, [&](Fields& f) {
    message = f.Text("message");
    code = f.Int("code");
  });
  if (!parsed.ok() || message.empty()) {
    return Status::IOError(
        fmt::format("etcd at {} answered {} with HTTP {}: {}", url, path, answer.status, answer.body.substr(0, 200)));
  }
  return FromGrpc(code, fmt::format("etcd at {} refused {}: {}", url, path, message));
}

std::string CompareJson(const Compare& c) {
  static constexpr const char* kTargets[] = {"\"VALUE\"", "\"VERSION\"", "\"CREATE\"", "\"MOD\""};
  static constexpr const char* kResults[] = {"\"EQUAL\"", "\"NOT_EQUAL\"", "\"GREATER\"", "\"LESS\""};
  Json json;
  json.Bytes("key", c.key, true)
      .Raw("target", kTargets[static_cast<int>(c.target)])
      .Raw("result", kResults[static_cast<int>(c.result)]);
  switch (c.target) {  // The oneof target_union: present even when zero ("create_revision":"0").
    case Compare::Target::kValue: json.Bytes("value", c.value, true); break;
    case Compare::Target::kVersion: json.Int("version", c.number, true); break;
    case Compare::Target::kCreateRevision: json.Int("create_revision", c.number, true); break;
    case Compare::Target::kModRevision: json.Int("mod_revision", c.number, true); break;
  }
  return json.Done();
}

std::string OpJson(const Op& op) {
  Json inner;
  inner.Bytes("key", op.key, true);
  switch (op.kind) {
    case Op::Kind::kPut:
      inner.Bytes("value", op.value).Int("lease", op.lease);
      return Json().Raw("request_put", inner.Done()).Done();
    case Op::Kind::kRange:
      inner.Bytes("range_end", op.range_end).Int("limit", op.limit);
      return Json().Raw("request_range", inner.Done()).Done();
    case Op::Kind::kDeleteRange:
      inner.Bytes("range_end", op.range_end);
      return Json().Raw("request_delete_range", inner.Done()).Done();
  }
  return "{}";
}

bool IsWrite(const std::vector<Op>& ops) {
  return std::any_of(ops.begin(), ops.end(), [](const Op& op) { return op.kind != Op::Kind::kRange; });
}

}  // namespace

// ---- The client -------------------------------------------------------------------------------

struct Client::Endpoint {
  std::string url, host, port;
  int fd = -1;
  std::string buffer;  // Bytes received and not yet read as an answer.

  ~Endpoint() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    buffer.clear();
  }
  // A kept connection that is readable between answers was closed by etcd (or is out of step).
  void DropIfStale() {
    pollfd p{fd, POLLIN, 0};
    if (fd >= 0 && (!buffer.empty() || ::poll(&p, 1, 0) != 0)) Close();
  }
};

Client::Client(Options options) : options_(std::move(options)) {}
Client::~Client() = default;

Status Client::Make(Options options, std::unique_ptr<Client>* out) {
  if (options.endpoints.empty() || options.endpoints.size() > kEndpointsMax) {
    return ledger::Status::Invalid("endpoints",
                                   fmt::format("{} given, 1 to {} expected", options.endpoints.size(), kEndpointsMax));
  }
  if (options.request_timeout_ms <= 0 || options.connect_timeout_ms <= 0) {
    return ledger::Status::Invalid("request_timeout_ms", "the timeouts must be above 0");
  }
  std::unique_ptr<Client> client(new Client(options));
  for (const std::string& text : options.endpoints) {
    auto e = std::make_unique<Endpoint>();
    if (ledger::Status s = ParseEndpoint(text, &e->url, &e->host, &e->port); !s.ok()) return s;
    client->endpoints_.push_back(std::move(e));
  }
  *out = std::move(client);
  return ledger::Status::Ok();
}

const std::string& Client::current_endpoint() const {
  return endpoints_[current_]->url;
}

// One attempt on one endpoint: Ok or etcd's refusal when an answer came (kAnswered), IOError when
// none did (kSent: the whole request went out, so the answer is lost; kNotSent: it did not).
Status Client::CallOne(size_t index, std::string_view path, const std::string& body, int64_t deadline_ms,
                       std::string* answer, Progress* progress) {
  Endpoint& e = *endpoints_[index];
  *progress = Progress::kNotSent;
  e.DropIfStale();
  std::string why;
  if (e.fd < 0) e.fd = Connect(e.host, e.port, std::min(deadline_ms, NowMs() + options_.connect_timeout_ms), &why);
  if (e.fd < 0) return ledger::Status::IOError(fmt::format("{}: {}", e.url, why));
  std::string request =
      fmt::format("POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                  path, e.host, e.port, body.size());
  request += body;
  why = SendAll(e.fd, request, deadline_ms);
  if (why.empty()) *progress = Progress::kSent;
  HttpAnswer http;
  if (why.empty()) why = AnswerReader(e.fd, &e.buffer, deadline_ms).Read(&http);
  if (!why.empty() || http.close) e.Close();
  if (!why.empty()) return ledger::Status::IOError(fmt::format("{}: {}", e.url, why));
  *progress = Progress::kAnswered;
  if (http.status != 200) return Refused(e.url, path, http);
  *answer = std::move(http.body);
  return ledger::Status::Ok();
}

// The request to the endpoints in turn (failover, etcd.h), within request_timeout_ms.
Status Client::Call(std::string_view path, const std::string& body, Kind kind, std::string* answer) {
  outcome_unknown_ = false;
  if (body.size() > kRequestBytesMax) {
    return ledger::Status::Invalid("request", fmt::format("{} of {} bytes exceeds etcd's request limit of {} bytes",
                                                          path, body.size(), kRequestBytesMax));
  }
  int64_t deadline_ms = NowMs() + options_.request_timeout_ms;
  std::string failures;
  size_t attempts_max = endpoints_.size() * kRoundsMax;
  for (size_t attempt = 0; attempt < attempts_max && NowMs() < deadline_ms; ++attempt) {
    // A read leaves half of what is left for the endpoints after this one (one may hang).
    int64_t left_ms = deadline_ms - NowMs();
    bool share = kind == Kind::kRead && endpoints_.size() > 1 && attempt + 1 < attempts_max;
    Progress progress;
    ledger::Status s = CallOne(current_, path, body, share ? NowMs() + left_ms / 2 : deadline_ms, answer, &progress);
    if (progress == Progress::kAnswered) return s;
    failures += (failures.empty() ? "" : "; ") + s.reason();
    if (progress == Progress::kSent && kind == Kind::kWrite) {
      outcome_unknown_ = true;
      return ledger::Status::IOError(
          fmt::format("{} sent and not answered, outcome unknown (it may have been applied): {}", path, s.reason()));
    }
    current_ = (current_ + 1) % endpoints_.size();
    if ((attempt + 1) % endpoints_.size() == 0) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::clamp<int64_t>(deadline_ms - NowMs(), 0, kRoundPauseMs)));
    }
  }
  return ledger::Status::IOError(fmt::format("no etcd endpoint answered {}: {}", path, failures));
}

Status Client::FindEndpoint(std::string_view endpoint, size_t* index) const {
  std::string url, host, port;
  if (ledger::Status s = ParseEndpoint(endpoint, &url, &host, &port); !s.ok()) return s;
  for (*index = 0; *index < endpoints_.size(); ++*index) {
    if (endpoints_[*index]->url == url) return ledger::Status::Ok();
  }
  return ledger::Status::NotFound(fmt::format("{} is not one of the client's endpoints", url));
}

Status Client::Range(std::string_view key, std::string_view range_end, int64_t limit, RangeResult* out) {
  return RangeAt(key, range_end, limit, 0, out);
}

Status Client::RangeAt(std::string_view key, std::string_view range_end, int64_t limit, int64_t revision,
                       RangeResult* out) {
  std::string body =
      Json().Bytes("key", key, true).Bytes("range_end", range_end).Int("limit", limit).Int("revision", revision).Done();
  std::string answer;
  if (ledger::Status s = Call("/v3/kv/range", body, Kind::kRead, &answer); !s.ok()) return s;
  *out = RangeResult();
  return ReadJson(answer, "/v3/kv/range", [&](Fields& f) {
    out->kvs = ReadKeyValues(f);
    out->more = f.Bool("more");
    out->count = f.Int("count");
    out->revision = f.Child("header").Int("revision");
  });
}

Status Client::Put(std::string_view key, std::string_view value, int64_t lease) {
  std::string body = Json().Bytes("key", key, true).Bytes("value", value).Int("lease", lease).Done();
  std::string answer;
  return Call("/v3/kv/put", body, Kind::kWrite, &answer);
}

Status Client::Txn(const std::vector<Compare>& compare, const std::vector<Op>& success, const std::vector<Op>& failure,
                   TxnResult* out) {
  std::string body = Json()
                         .Raw("compare", Array(compare, CompareJson))
                         .Raw("success", Array(success, OpJson))
                         .Raw("failure", Array(failure, OpJson))
                         .Done();
  Kind kind = IsWrite(success) || IsWrite(failure) ? Kind::kWrite : Kind::kRead;
  std::string answer;
  if (ledger::Status s = Call("/v3/kv/txn", body, kind, &answer); !s.ok()) return s;
  *out = TxnResult();
  return ReadJson(answer, "/v3/kv/txn", [&](Fields& f) {
    out->succeeded = f.Bool("succeeded");
    out->revision = f.Child("header").Int("revision");
    f.Each("responses", [&](simdjson::dom::element e, std::string path) {
      Fields response(e, path, f.bad());
      if (!response.Has("response_range")) return;
      Fields range = response.Child("response_range");
      out->ranges.push_back(ReadKeyValues(range));
    });
  });
}

Status Client::DeleteRange(std::string_view key, std::string_view range_end, int64_t* deleted) {
  std::string body = Json().Bytes("key", key, true).Bytes("range_end", range_end).Done();
  std::string answer;
  if (ledger::Status s = Call("/v3/kv/deleterange", body, Kind::kWrite, &answer); !s.ok()) return s;
  return ReadJson(answer, "/v3/kv/deleterange", [&](Fields& f) {
    int64_t n = f.Int("deleted");
    if (deleted != nullptr) *deleted = n;
  });
}

Status Client::LeaseGrant(int64_t ttl_seconds, int64_t* id, int64_t* granted_ttl) {
  if (ttl_seconds <= 0) return ledger::Status::Invalid("ttl_seconds", "must be above 0");
  std::string answer, error;
  if (ledger::Status s = Call("/v3/lease/grant", Json().Int("TTL", ttl_seconds).Done(), Kind::kRead, &answer);
      !s.ok()) {
    return s;
  }
  ledger::Status s = ReadJson(answer, "/v3/lease/grant", [&](Fields& f) {
    *id = f.Int("ID");
    *granted_ttl = f.Int("TTL");
    error = f.Text("error");
  });
  if (s.ok() && !error.empty()) return ledger::Status::IOError(fmt::format("etcd refused /v3/lease/grant: {}", error));
  return s;
}

// The gateway serves the keep-alive stream as lines of {"result":{...}} or {"error":{...}}; one
// request in the body, one line back, and the stream ends with the body.
Status Client::LeaseKeepAlive(int64_t id, int64_t* ttl_left) {
  std::string answer, message;
  if (ledger::Status s = Call("/v3/lease/keepalive", Json().Int("ID", id, true).Done(), Kind::kRead, &answer);
      !s.ok()) {
    return s;
  }
  int64_t code = 0;
  ledger::Status s =
      ReadJson(std::string_view(answer).substr(0, answer.find('\n')), "/v3/lease/keepalive", [&](Fields& f) {
        *ttl_left = f.Child("result").Int("TTL");
        Fields error = f.Child("error");
        message = error.Text("message");
        code = error.Int("grpc_code");
      });
  if (s.ok() && !message.empty()) return FromGrpc(code, fmt::format("etcd refused /v3/lease/keepalive: {}", message));
  return s;
}

Status Client::LeaseRevoke(int64_t id) {
  std::string answer;
  return Call("/v3/lease/revoke", Json().Int("ID", id, true).Done(), Kind::kWrite, &answer);
}

// physical: etcd answers once the old revisions are gone from its store, not before.
Status Client::Compact(int64_t revision) {
  std::string body = Json().Int("revision", revision, true).Raw("physical", "true").Done();
  std::string answer;
  return Call("/v3/kv/compaction", body, Kind::kWrite, &answer);
}

Status Client::Status(std::string_view endpoint, EndpointStatus* out) {
  size_t index;
  if (ledger::Status s = FindEndpoint(endpoint, &index); !s.ok()) return s;
  std::string answer;
  Progress progress;
  outcome_unknown_ = false;
  if (ledger::Status s =
          CallOne(index, "/v3/maintenance/status", "{}", NowMs() + options_.request_timeout_ms, &answer, &progress);
      !s.ok()) {
    return s;
  }
  *out = EndpointStatus();
  return ReadJson(answer, "/v3/maintenance/status", [&](Fields& f) {
    out->version = f.Text("version");
    out->member_id = f.Child("header").Int<uint64_t>("member_id");
    out->revision = f.Child("header").Int("revision");
    out->leader_id = f.Int<uint64_t>("leader");
    out->db_size_bytes = f.Int("dbSize");
    out->db_size_in_use_bytes = f.Int("dbSizeInUse");
    out->raft_index = f.Int<uint64_t>("raftIndex");
    out->raft_term = f.Int<uint64_t>("raftTerm");
    out->raft_applied_index = f.Int<uint64_t>("raftAppliedIndex");
    out->is_learner = f.Bool("isLearner");
    out->errors = f.Texts("errors");
  });
}

Status Client::Defragment(std::string_view endpoint) {
  size_t index;
  if (ledger::Status s = FindEndpoint(endpoint, &index); !s.ok()) return s;
  std::string answer;
  Progress progress;
  outcome_unknown_ = false;
  return CallOne(index, "/v3/maintenance/defragment", "{}", NowMs() + options_.request_timeout_ms, &answer, &progress);
}

Status Client::MemberList(std::vector<Member>* out) {
  std::string answer;
  if (ledger::Status s = Call("/v3/cluster/member/list", "{}", Kind::kRead, &answer); !s.ok()) return s;
  out->clear();
  return ReadJson(answer, "/v3/cluster/member/list", [&](Fields& f) {
    f.Each("members", [&](simdjson::dom::element e, std::string path) {
      Fields m(e, path, f.bad());
      out->push_back(Member{m.Int<uint64_t>("ID"), m.Text("name"), m.Texts("peerURLs"), m.Texts("clientURLs"),
                            m.Bool("isLearner")});
    });
  });
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace ledgerd::etcd
