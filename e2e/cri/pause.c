/* The pod sandbox's only process, as Kubernetes' pause image runs: it holds
 * the pod's namespaces open, reaps the zombies of whatever shares its PID
 * namespace, and exits on SIGINT/SIGTERM (StopPodSandbox). Built static
 * (`cc -static -O2`) so the image needs no libc: nothing can be pulled here.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void pause_exit(int sig)
{
	_exit(128 + sig);
}

static void pause_reap(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction stop = { .sa_handler = pause_exit };
	struct sigaction chld = { .sa_handler = pause_reap, .sa_flags = SA_NOCLDSTOP };

	if (getpid() != 1)
		fprintf(stderr, "pause: not PID 1 (pid %d); running anyway\n", (int)getpid());
	if (sigaction(SIGINT, &stop, NULL) || sigaction(SIGTERM, &stop, NULL) ||
	    sigaction(SIGCHLD, &chld, NULL)) {
		fprintf(stderr, "pause: sigaction: %s\n", strerror(errno));
		return 1;
	}
	for (;;)
		pause();
}
