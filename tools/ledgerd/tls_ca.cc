#include "tls_ca.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <tuple>
#include <vector>

namespace ledgerd {
namespace {

using ledger::Status;

constexpr long kValiditySeconds = 10L * 366 * 24 * 3600;  // Certificates are cut off by deactivation, not age.

struct Deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(X509* c) const { X509_free(c); }
  void operator()(BIO* b) const { BIO_free(b); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter>;
using Cert = std::unique_ptr<X509, Deleter>;
using Bio = std::unique_ptr<BIO, Deleter>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioText(bio.get());
}

std::string CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioText(bio.get());
}

Key ReadKey(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

Cert ReadCert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext != nullptr) X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (self-signed if `issuer`
// is null). `kind`: "ca", "server" or "client" sets its extensions.
Cert MakeCert(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key, const char* kind) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // Positive.
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : cert.get();
  if (std::string(kind) == "ca") {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    AddExtension(cert.get(), signer, NID_ext_key_usage, std::string(kind) == "server" ? "serverAuth" : "clientAuth");
  }
  if (std::string(kind) == "server") {
    AddExtension(cert.get(), signer, NID_subject_alt_name, fmt::format("DNS:{}", kServerName).c_str());
  }
  AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

Status ReadText(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return Status::IOError(fmt::format("cannot read {}: {}", path, strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::Ok();
}

// Writes through a temporary file renamed into place: no reader sees half a key.
Status WriteText(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && ::fsync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) return Status::IOError(fmt::format("cannot write {}: {}", path, strerror(errno)));
  return Status::Ok();
}

Key NewKey() {
  return Key(EVP_EC_gen("P-256"));
}

}  // namespace

std::string TlsDir(const std::string& dir, const std::string& tls_dir) {
  return tls_dir.empty() ? dir + "/tls" : tls_dir;
}

Status EnsureCa(const std::string& tls_dir, bool* made) {
  *made = false;
  if (std::filesystem::exists(tls_dir + "/ca.pem")) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(tls_dir, ec);
  if (ec) return Status::IOError(fmt::format("cannot make {}: {}", tls_dir, ec.message()));
  ::chmod(tls_dir.c_str(), 0700);
  Key ca_key = NewKey(), server_key = NewKey();
  if (!ca_key || !server_key) return Status::IOError("cannot generate a P-256 key");
  Cert ca = MakeCert(ca_key.get(), "Benefit Ledger CA", nullptr, ca_key.get(), "ca");
  Cert server = ca ? MakeCert(server_key.get(), kServerName, ca.get(), ca_key.get(), "server") : nullptr;
  if (!server) return Status::IOError("cannot sign the CA or server certificate");
  // The CA certificate last: its presence means the directory is complete.
  for (auto [name, text, mode] : {std::tuple{"ca.key", KeyPem(ca_key.get()), 0600},
                                  {"server.key", KeyPem(server_key.get()), 0600},
                                  {"server.pem", CertPem(server.get()), 0644},
                                  {"ca.pem", CertPem(ca.get()), 0644}}) {
    Status s = WriteText(tls_dir + "/" + name, text, static_cast<mode_t>(mode));
    if (!s.ok()) return s;
  }
  *made = true;
  return Status::Ok();
}

Status ReadServerFiles(const std::string& tls_dir, ServerFiles* out) {
  Status s = ReadText(tls_dir + "/ca.pem", &out->ca_pem);
  if (s.ok()) s = ReadText(tls_dir + "/server.pem", &out->cert_pem);
  if (s.ok()) s = ReadText(tls_dir + "/server.key", &out->key_pem);
  return s;
}

Status IssueCredential(const std::string& tls_dir, const std::string& actor_id, std::string* credential) {
  std::string ca_pem, ca_key_pem;
  Status s = ReadText(tls_dir + "/ca.pem", &ca_pem);
  if (s.ok()) s = ReadText(tls_dir + "/ca.key", &ca_key_pem);
  if (!s.ok()) return s;
  Cert ca = ReadCert(ca_pem);
  Key ca_key = ReadKey(ca_key_pem);
  if (!ca || !ca_key) return Status::Invalid(tls_dir, "ca.pem or ca.key does not read as PEM");
  Key key = NewKey();
  Cert cert = key ? MakeCert(key.get(), actor_id, ca.get(), ca_key.get(), "client") : nullptr;
  if (!cert) return Status::IOError("cannot sign the actor's certificate");
  *credential = fmt::format(
      "# Benefit Ledger credential of actor {} for ledgerd (ledgerctl credential issue). Keep it private:\n"
      "# whoever holds it connects as {}. Blocks: the actor's certificate, its private key, the ledger's CA.\n{}{}{}",
      actor_id, actor_id, CertPem(cert.get()), KeyPem(key.get()), ca_pem);
  return Status::Ok();
}

Status ReadCredential(const std::string& path, Credential* out) {
  std::string text;
  Status s = ReadText(path, &text);
  return s.ok() ? ParseCredential(text, out) : s;
}

Status ParseCredential(const std::string& text, Credential* out) {
  std::vector<std::string> blocks;
  for (size_t at = text.find("-----BEGIN "); at != std::string::npos; at = text.find("-----BEGIN ", at)) {
    size_t end = text.find("-----END ", at);
    size_t stop = end == std::string::npos ? std::string::npos : text.find("-----\n", end + 9);
    if (stop == std::string::npos) return Status::Invalid("credential", "a PEM block is not closed");
    blocks.push_back(text.substr(at, stop + 6 - at));
    at = stop + 6;
  }
  if (blocks.size() != 3 || blocks[0].find("CERTIFICATE") == std::string::npos ||
      blocks[1].find("PRIVATE KEY") == std::string::npos || blocks[2].find("CERTIFICATE") == std::string::npos) {
    return Status::Invalid("credential",
                           "expected three PEM blocks: certificate, private key, CA certificate "
                           "(as ledgerctl credential issue writes)");
  }
  *out = {blocks[0], blocks[1], blocks[2]};
  return Status::Ok();
}

}  // namespace ledgerd
