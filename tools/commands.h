// Commands of ledgerctl that live in their own files; ledgerctl.cc lists them with their help.
#pragma once

#include "tools/cli.h"

namespace tools {

// payroll_cmd.cc: `payroll issue` and `payroll export`.
int RunPayroll(const Flags& flags, const Positional& positional);
extern const char* const kPayrollUsage;

}  // namespace tools
