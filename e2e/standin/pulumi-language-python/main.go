// Stand-in for Pulumi's Python language host (`pulumi-language-python`), written for the
// kvm-in-a-pod e2e toolchain.
//
// Why it exists: the Go module proxy reachable here does not serve the upstream module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 (any version answers
// "403 This module version is not available"), so the real host cannot be built. This small
// host implements only what `pulumi up/preview/destroy` and `pulumi preview --policy-pack`
// need for a Python program:
//
//   - Run: starts `python -u pulumi-language-python-exec ...` (the real exec script, copied from
//     the github.com/pulumi/pulumi/sdk/v3 module next to this binary) in the project's
//     virtualenv, resolved with the SDK's own python/toolchain package.
//   - RunPlugin (kind "analyzer"): starts a Python policy pack as
//     `python -u -m pulumi.policy <engine> <packdir>` in the pack's virtualenv.
//   - InstallDependencies: creates the virtualenv and installs requirements.txt (pip toolchain).
//   - GetRequiredPackages: returns nothing (plugins are then loaded on demand from PATH).
//
// Everything else answers Unimplemented. Build-tools.sh prefers the upstream host whenever the
// proxy serves it (see versions.env).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set with -ldflags "-X main.version=...".
var version = "0.0.0-standin"

// exitCodeUserActionable is the exit code the exec script uses after it already showed an error.
const exitCodeUserActionable = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

func optionString(info *pulumirpc.ProgramInfo, key string) string {
	if info == nil || info.GetOptions() == nil {
		return ""
	}
	if v, ok := info.GetOptions().AsMap()[key]; ok && v != nil {
		return fmt.Sprintf("%v", v)
	}
	return ""
}

func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	if info == nil {
		return nil, errors.New("missing program info")
	}
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Virtualenv: optionString(info, "virtualenv"),
	}
	switch optionString(info, "toolchain") {
	case "pip":
		opts.Toolchain = toolchain.Pip
	case "uv":
		opts.Toolchain = toolchain.Uv
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	case "":
		opts.Toolchain = toolchain.Auto
	default:
		return nil, fmt.Errorf("unsupported python toolchain %q", optionString(info, "toolchain"))
	}
	return toolchain.ResolveToolchain(opts)
}

// venvEnv returns base with the toolchain's virtualenv activated (if it has one).
func venvEnv(ctx context.Context, tc toolchain.Toolchain, base []string) []string {
	venv, err := tc.VirtualEnvPath(ctx)
	if err != nil || venv == "" {
		return base
	}
	return toolchain.ActivateVirtualEnv(base, venv)
}

func execScriptPath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	p := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("missing executor %s: %w", p, err)
	}
	return p, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	script, err := execScriptPath()
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	info := req.GetInfo()
	program := info.GetEntryPoint()
	if program == "" {
		program = "."
	}
	if !filepath.IsAbs(program) {
		program = filepath.Join(info.GetProgramDirectory(), program)
	}
	pwd := req.GetPwd()
	if pwd == "" {
		pwd = info.GetProgramDirectory()
	}

	args := []string{
		"-u", script,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", pwd,
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
		"--root_directory", info.GetRootDirectory(),
		program,
	}
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	cmd.Dir = pwd

	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{}
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secrets))
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code := exitErr.ExitCode()
			if code == exitCodeUserActionable {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
		}
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamSender serialises Send calls from the stdout and stderr copiers.
type streamSender struct {
	mu   sync.Mutex
	send func(stdout bool, b []byte) error
}

type streamWriter struct {
	s      *streamSender
	stdout bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	buf := make([]byte, len(p))
	copy(buf, p)
	if err := w.s.send(w.stdout, buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, srv pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := srv.Context()
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()

	var args []string
	switch req.GetKind() {
	case "analyzer":
		// pulumi.policy's __main__ takes <engineAddress> <program>.
		args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
		args = append(args, dir)
	default:
		// A Python plugin (PulumiPlugin.yaml): run its directory as a program.
		args = append([]string{"-u", dir}, req.GetArgs()...)
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return err
	}
	cmd.Dir = dir
	base := req.GetEnv()
	if len(base) == 0 {
		base = os.Environ()
	}
	cmd.Env = venvEnv(ctx, tc, base)

	sender := &streamSender{send: func(stdout bool, b []byte) error {
		if stdout {
			return srv.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
		}
		return srv.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	}}
	cmd.Stdout = streamWriter{s: sender, stdout: true}
	cmd.Stderr = streamWriter{s: sender, stdout: false}

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = int32(exitErr.ExitCode())
	}
	sender.mu.Lock()
	defer sender.mu.Unlock()
	return srv.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, srv pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	ctx := srv.Context()
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	sender := &streamSender{send: func(stdout bool, b []byte) error {
		if stdout {
			return srv.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
		}
		return srv.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	}}
	var out, errw io.Writer = streamWriter{s: sender, stdout: true}, streamWriter{s: sender, stdout: false}
	dir := req.GetInfo().GetProgramDirectory()
	if err := tc.EnsureVenv(ctx, dir, req.GetUseLanguageVersionTools(), true, out, errw); err != nil {
		return err
	}
	return tc.InstallDependencies(ctx, dir, req.GetUseLanguageVersionTools(), true, out, errw)
}

func main() {
	// The engine passes its own address as the last positional argument; flags such as
	// -tracing, -v or -logtostderr may precede it and are ignored here.
	engine := ""
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			engine = a
		}
	}
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(version)
		return
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, &host{engineAddress: engine})
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
}
