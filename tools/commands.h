/* commands.h - the prov subcommands: one file each under tools/. */
#ifndef PROV_COMMANDS_H
#define PROV_COMMANDS_H

#include "cli.h"

#define COMMAND(name) \
	int cmd_##name(int argc, char **argv, cli *c); \
	extern const char usage_##name[]

COMMAND(init);
COMMAND(ca_export);
COMMAND(signer_export);
COMMAND(template_check);
COMMAND(mint);
COMMAND(list);
COMMAND(show);
COMMAND(export);
COMMAND(bundle);
COMMAND(inspect);
COMMAND(trust_build);
COMMAND(trust_sign);
COMMAND(trust_inspect);
COMMAND(receipt_verify);
COMMAND(install);
COMMAND(thread_pskc);
COMMAND(thread_pskd);
COMMAND(revoke);
COMMAND(crl);
COMMAND(db_migrate);

#undef COMMAND

#endif
