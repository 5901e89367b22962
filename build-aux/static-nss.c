/*
 * Linked into the static build only (see the Makefile's NSS_WRAP).
 *
 * libnl-3 calls glibc's NSS lookups in functions flowsteer never calls:
 * getaddrinfo (nl_addr_info), getnameinfo (nl_addr_resolve), getprotobyname
 * (nl_str2ip_proto) and getprotobynumber (nl_ip_proto2str). In a static
 * binary, glibc's NSS code dlopen()s the node's libnss_*.so at run time: a
 * library built for another glibc, the very dependency a static binary must
 * not have. The static link redirects those references here
 * (-Wl,--wrap=NAME), so the binary holds no NSS code at all, and a call that
 * should never happen fails with ENOSYS instead of loading foreign code.
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>

int __wrap_getaddrinfo(const char *node, const char *service,
		       const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
		       socklen_t hostlen, char *serv, socklen_t servlen, int flags);
struct protoent *__wrap_getprotobyname(const char *name);
struct protoent *__wrap_getprotobynumber(int proto);

int __wrap_getaddrinfo(const char *node, const char *service,
		       const struct addrinfo *hints, struct addrinfo **res)
{
	*res = NULL;
	errno = ENOSYS;
	return EAI_SYSTEM;
}

int __wrap_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
		       socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	errno = ENOSYS;
	return EAI_SYSTEM;
}

struct protoent *__wrap_getprotobyname(const char *name)
{
	errno = ENOSYS;
	return NULL;
}

struct protoent *__wrap_getprotobynumber(int proto)
{
	errno = ENOSYS;
	return NULL;
}
