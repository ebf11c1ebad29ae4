// Where parleyd's log goes: stderr, or, under systemd with stderr connected to
// the journal (JOURNAL_STREAM), the journal itself, where each audit line also
// carries its fields as structured data (PARLEY_USER=, PARLEY_METHOD=, ...), so
// `journalctl PARLEY_OUTCOME=reject` finds failed attempts without parsing text.
#pragma once

#include <string>
#include <string_view>

#include "parley/userauth/server_auth.hpp"

namespace parleyd {

/// Makes the default logger: the journal when stderr is the service's journal
/// stream (systemd sets JOURNAL_STREAM), else stderr. `level` as --log-level.
void setup_logging(const std::string& level);

/// The network process, which cannot reach the journal's socket from its
/// chroot, logs to stderr (the service's journal stream still takes the text).
void use_stderr_logging();

/// True when setup_logging() chose the journal.
bool logging_to_journal();

/// One audit line for an authentication step of `peer`: the text as always
/// (userauth::audit_line), and in the journal the record's fields beside it.
/// Never an answer, a password or prompt text: the record holds none.
void log_audit(const parley::userauth::AuditRecord& record, std::string_view peer);

}  // namespace parleyd
