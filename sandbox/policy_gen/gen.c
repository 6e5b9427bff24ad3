/* gen.c - compile the seccomp policy at build time.
 *
 * The policy is the same for every sandbox, so the build compiles it once with
 * libseccomp and the reelbox binary embeds the BPF program (blob.S.in); a `reelbox exec`
 * then spends no time in libseccomp's compiler (about 2 ms a process otherwise).
 * Usage: reelbox-policy-gen OUT.bpf
 */
#include <stdio.h>

#include "policy.h"

int main(int argc, char **argv)
{
	struct sock_fprog prog;
	char err[256];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: reelbox-policy-gen OUT.bpf\n");
		return 2;
	}
	if (sandbox_policy_build(&prog, SANDBOX_POLICY_NOTIFY, err, sizeof(err)) < 0) {
		fprintf(stderr, "reelbox-policy-gen: %s\n", err);
		return 1;
	}
	f = fopen(argv[1], "wb");
	if (!f || fwrite(prog.filter, sizeof(prog.filter[0]), prog.len, f) != prog.len ||
	    fclose(f) != 0) {
		perror(argv[1]);
		sandbox_policy_free(&prog);
		return 1;
	}
	sandbox_policy_free(&prog);
	return 0;
}
