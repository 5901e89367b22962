// fse2e-cni runs a CNI conflist through libcni, the library containerd and
// CRI-O use, so the e2e testbed exercises flowsteer exactly as a node's
// runtime would: same environment, same prevResult conversion, same result
// cache, same capability filtering of runtimeConfig, same CHECK/DEL rules
// per cniVersion.
//
// Built in GOPATH mode against Debian's golang-github-appc-cni-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o e2e/bin/fse2e-cni ./e2e/cnidriver
//
// Usage: fse2e-cni [flags] add|check|del|gc|status|version|features
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// The capability containerd (>= 1.5) and CRI-O (>= 1.29) fill with the pod's
// annotations; libcni hands it only to plugins that declare it.
const annotationsCap = "io.kubernetes.cri.pod-annotations"

// teeExec is libcni's default executor that also keeps each plugin's raw
// stdout: libcni parses a plugin's output into its typed result and drops
// unknown keys (flowsteer's "flowsteer" report), so a test that wants to
// see them must read them before libcni does.
type teeExec struct {
	invoke.DefaultExec
	dir string
}

func (e *teeExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	out, err := e.DefaultExec.ExecPlugin(ctx, pluginPath, stdin, environ)
	if e.dir != "" {
		verb := "UNKNOWN"
		for _, kv := range environ {
			if strings.HasPrefix(kv, "CNI_COMMAND=") {
				verb = strings.TrimPrefix(kv, "CNI_COMMAND=")
			}
		}
		base := filepath.Join(e.dir, verb+"-"+filepath.Base(pluginPath))
		// Best effort: the raw copies are diagnostics, never the result.
		_ = os.WriteFile(base+".in", stdin, 0o600)
		if err == nil {
			_ = os.WriteFile(base+".out", out, 0o600)
		} else {
			_ = os.WriteFile(base+".err", []byte(err.Error()), 0o600)
		}
	}
	return out, err
}

type options struct {
	conflist, netns, id, ifname string
	podNS, podName, podUID      string
	annotations                 string
	cacheDir, path, rawDir      string
	valid                       string
	timeout                     time.Duration
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "fse2e-cni: "+format+"\n", a...)
	os.Exit(1)
}

// failCNI prints a plugin's CNI error as JSON (code, msg, details) so the
// caller can assert on the code, then exits non-zero.
func failCNI(verb string, err error) {
	var cerr *types.Error
	if errors.As(err, &cerr) {
		b, _ := json.Marshal(cerr)
		fmt.Fprintf(os.Stderr, "fse2e-cni: %s: %s\n", verb, b)
		os.Exit(2)
	}
	fail("%s: %v", verb, err)
}

func main() {
	var o options
	flag.StringVar(&o.conflist, "conflist", "", "conflist file (required)")
	flag.StringVar(&o.netns, "netns", "", "pod network namespace path (CNI_NETNS)")
	flag.StringVar(&o.id, "id", "", "container ID (CNI_CONTAINERID)")
	flag.StringVar(&o.ifname, "ifname", "eth0", "CNI_IFNAME")
	flag.StringVar(&o.podNS, "pod-namespace", "default", "K8S_POD_NAMESPACE in CNI_ARGS")
	flag.StringVar(&o.podName, "pod-name", "", "K8S_POD_NAME in CNI_ARGS")
	flag.StringVar(&o.podUID, "pod-uid", "", "K8S_POD_UID in CNI_ARGS (optional)")
	flag.StringVar(&o.annotations, "annotations", "{}",
		"pod annotations as a JSON object of strings, passed as capability "+annotationsCap+"; \"none\" leaves the capability out (a runtime that does not pass it)")
	flag.StringVar(&o.cacheDir, "cache-dir", "", "libcni result cache (containerd: /var/lib/cni)")
	flag.StringVar(&o.path, "path", os.Getenv("CNI_PATH"), "plugin search path (colon-separated)")
	flag.StringVar(&o.rawDir, "raw-dir", "", "keep every plugin's raw stdin/stdout here as VERB-PLUGIN.{in,out,err}")
	flag.StringVar(&o.valid, "valid", "", "gc: comma-separated CONTAINERID[/IFNAME] still valid")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "bound on the whole invocation")
	flag.Parse()
	if flag.NArg() != 1 {
		fail("want exactly one verb (add|check|del|gc|status|version), got %q", flag.Args())
	}
	verb := flag.Arg(0)
	if verb == "features" {
		fmt.Printf("{\"gc\":%t,\"status\":%t}\n", hasGC, hasGC)
		return
	}
	if o.conflist == "" {
		fail("-conflist is required")
	}
	list, err := libcni.ConfListFromFile(o.conflist)
	if err != nil {
		fail("conflist %s: %v", o.conflist, err)
	}
	if o.rawDir != "" {
		if err := os.MkdirAll(o.rawDir, 0o700); err != nil {
			fail("raw-dir %s: %v", o.rawDir, err)
		}
	}
	exec := &teeExec{
		DefaultExec: invoke.DefaultExec{
			RawExec:       &invoke.RawExec{Stderr: os.Stderr},
			PluginDecoder: version.PluginDecoder{},
		},
		dir: o.rawDir,
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(o.path), o.cacheDir, exec)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	switch verb {
	case "add", "check", "del":
		rt, err := runtimeConf(&o)
		if err != nil {
			fail("%v", err)
		}
		switch verb {
		case "add":
			res, err := cni.AddNetworkList(ctx, list, rt)
			if err != nil {
				failCNI("ADD", err)
			}
			// What the runtime gets back: the last plugin's result, in
			// the conflist's version, typed (unknown keys gone).
			b, err := json.Marshal(res)
			if err != nil {
				fail("ADD: marshal result: %v", err)
			}
			fmt.Println(string(b))
		case "check":
			if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
				failCNI("CHECK", err)
			}
		case "del":
			if err := cni.DelNetworkList(ctx, list, rt); err != nil {
				failCNI("DEL", err)
			}
		}
	case "gc":
		if err := gcNetworkList(ctx, cni, list, o.valid, o.ifname); err != nil {
			failCNI("GC", err)
		}
	case "status":
		if err := statusNetworkList(ctx, cni, list); err != nil {
			failCNI("STATUS", err)
		}
	case "version":
		out := map[string]interface{}{}
		for _, p := range list.Plugins {
			info, err := cni.GetVersionInfo(ctx, p.Network.Type)
			if err != nil {
				failCNI("VERSION "+p.Network.Type, err)
			}
			out[p.Network.Type] = info.SupportedVersions()
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	default:
		fail("unknown verb %q (add|check|del|gc|status|version)", verb)
	}
}

// runtimeConf builds what kubelet's runtime passes: CNI_ARGS as containerd
// sets them and the pod annotations as a capability argument.
func runtimeConf(o *options) (*libcni.RuntimeConf, error) {
	if o.id == "" {
		return nil, errors.New("-id is required")
	}
	args := [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", o.podNS},
		{"K8S_POD_NAME", o.podName},
		{"K8S_POD_INFRA_CONTAINER_ID", o.id},
	}
	if o.podUID != "" {
		args = append(args, [2]string{"K8S_POD_UID", o.podUID})
	}
	rt := &libcni.RuntimeConf{
		ContainerID:    o.id,
		NetNS:          o.netns,
		IfName:         o.ifname,
		Args:           args,
		CapabilityArgs: map[string]interface{}{},
	}
	if o.annotations != "none" {
		ann := map[string]string{}
		if err := json.Unmarshal([]byte(o.annotations), &ann); err != nil {
			return nil, fmt.Errorf("-annotations %q: not a JSON object of strings: %v", o.annotations, err)
		}
		rt.CapabilityArgs[annotationsCap] = ann
	}
	return rt, nil
}
