// The ledger's own certificate authority, for ledgerd's mutual TLS (README "Running a server").
//
// A ledger served by ledgerd has a TLS directory (by default D/tls, beside the database and the
// keyed-hash secret, never inside RocksDB) holding
//   ca.key, ca.pem          the CA's P-256 key (mode 0600) and self-signed certificate;
//   server.key, server.pem  ledgerd's key (0600) and certificate, issued by the CA for the DNS
//                           name kServerName (clients check it whatever address they dial).
// An actor's credential (ledgerctl credential issue) is one text file of three PEM blocks: the
// actor's certificate (common name = actor id, issued by the CA), its private key, and the CA
// certificate, the one trust anchor the client accepts the server by (the server is pinned to
// the ledger's CA, not to the system's trust store).
//
// Plain functions over files; thread-compatible. Errors are Status values naming the file.
#pragma once

#include <string>

#include "benefit_ledger/status.h"

namespace ledgerd {

// The name the server's certificate is issued for, and the name clients verify.
inline constexpr const char* kServerName = "ledgerd";

// The TLS directory of ledger `dir`, unless `tls_dir` is given.
std::string TlsDir(const std::string& dir, const std::string& tls_dir);

// Makes the CA and the server's key and certificate in `tls_dir` unless they are there already;
// *made says whether it made them.
ledger::Status EnsureCa(const std::string& tls_dir, bool* made);

// The server's identity, read from `tls_dir` (all PEM text).
struct ServerFiles {
  std::string ca_pem, cert_pem, key_pem;
};
ledger::Status ReadServerFiles(const std::string& tls_dir, ServerFiles* out);

// An actor's credential: issued by the CA of `tls_dir` for `actor_id` (PEM text, see above).
ledger::Status IssueCredential(const std::string& tls_dir, const std::string& actor_id, std::string* credential);

struct Credential {
  std::string cert_pem, key_pem, ca_pem;
};
// Splits a credential file's text. InvalidArgument naming "credential" if a block is missing.
ledger::Status ParseCredential(const std::string& text, Credential* out);
// Reads and splits the credential file at `path` (IOError naming it if it cannot be read).
ledger::Status ReadCredential(const std::string& path, Credential* out);

}  // namespace ledgerd
