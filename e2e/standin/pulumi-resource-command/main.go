// Stand-in for the Pulumi command provider (`pulumi-resource-command`), written for the
// kvm-in-a-pod e2e toolchain.
//
// Why it exists: the Go module proxy reachable here does not serve
// github.com/pulumi/pulumi-command/provider (any version or commit answers "403 This module
// version is not available"), so the real provider cannot be built. This provider implements
// only the `command:local:Command` resource, enough for e2e runs of programs that use
// pulumi_command.local.Command:
//
//   - create: runs `create` with the interpreter (default /bin/sh -c) in `dir`, with
//     `environment` and `stdin`; outputs `stdout`/`stderr` (one trailing newline trimmed).
//   - update: runs `update` if set (else nothing) when only update/delete/logging changed.
//   - a change of create, triggers, dir, environment, interpreter or stdin replaces the resource.
//   - delete: runs `delete` if set, with PULUMI_COMMAND_STDOUT/STDERR in its environment.
//
// Not implemented: remote:*, local:run, assets/archives, logging modes, schema.
// Build-tools.sh prefers the upstream provider whenever the proxy serves it (see versions.env).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is set with -ldflags "-X main.version=...".
var version = "0.0.0-standin"

const localCommand = "command:local:Command"

// replaceKeys are the inputs whose change replaces a command (mirrors pulumi-command's ReplaceOnChanges).
var replaceKeys = map[string]bool{
	"create": true, "triggers": true, "dir": true, "environment": true, "interpreter": true, "stdin": true,
	"assetPaths": true, "archivePaths": true,
}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, marshalOpts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshalOpts)
}

func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsOutput() {
		v = v.OutputValue().Element
	}
	return v
}

func str(m resource.PropertyMap, key string) string {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return ""
	}
	v = plain(v)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func hasUnknowns(m resource.PropertyMap) bool {
	return m.ContainsUnknowns()
}

func typeOf(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 3 {
		return ""
	}
	t := parts[2]
	if i := strings.LastIndex(t, "$"); i >= 0 {
		t = t[i+1:]
	}
	return t
}

func checkType(urn string) error {
	if t := typeOf(urn); t != localCommand {
		return fmt.Errorf("stand-in command provider: resource type %q is not implemented (only %s)", t, localCommand)
	}
	return nil
}

// run executes cmd with the resource's interpreter, dir, environment and stdin.
func run(ctx context.Context, inputs resource.PropertyMap, command string, extraEnv []string) (string, string, error) {
	interpreter := []string{"/bin/sh", "-c"}
	if v, ok := inputs["interpreter"]; ok && plain(v).IsArray() {
		interpreter = nil
		for _, e := range plain(v).ArrayValue() {
			interpreter = append(interpreter, plain(e).StringValue())
		}
	}
	args := append(append([]string{}, interpreter[1:]...), command)
	cmd := exec.CommandContext(ctx, interpreter[0], args...)
	cmd.Dir = str(inputs, "dir")
	cmd.Env = os.Environ()
	if v, ok := inputs["environment"]; ok && plain(v).IsObject() {
		env := plain(v).ObjectValue()
		keys := env.StableKeys()
		for _, k := range keys {
			cmd.Env = append(cmd.Env, string(k)+"="+plain(env[k]).StringValue())
		}
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	if stdin := str(inputs, "stdin"); stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	out := strings.TrimSuffix(stdout.String(), "\n")
	errOut := strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		return out, errOut, fmt.Errorf("command %q failed: %w: %s", command, err, errOut)
	}
	return out, errOut, nil
}

func withOutputs(inputs resource.PropertyMap, stdout, stderr resource.PropertyValue) resource.PropertyMap {
	out := inputs.Copy()
	out["stdout"] = stdout
	out["stderr"] = stderr
	return out
}

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: `{"name":"command","version":"` + version + `"}`}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds := req.GetOldInputs()
	if olds == nil {
		olds = req.GetOlds()
	}
	oldFields, newFields := olds.GetFields(), req.GetNews().GetFields()
	keys := map[string]bool{}
	for k := range oldFields {
		keys[k] = true
	}
	for k := range newFields {
		keys[k] = true
	}
	var diffs, replaces []string
	for k := range keys {
		if k == "stdout" || k == "stderr" {
			continue
		}
		if !proto.Equal(oldFields[k], newFields[k]) {
			diffs = append(diffs, k)
			if replaceKeys[k] {
				replaces = append(replaces, k)
			}
		}
	}
	sort.Strings(diffs)
	sort.Strings(replaces)
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{Changes: changes, Diffs: diffs, Replaces: replaces}, nil
}

func (p *provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	if req.GetPreview() || hasUnknowns(inputs) {
		unknown := resource.MakeComputed(resource.NewProperty(""))
		props, err := marshal(withOutputs(inputs, unknown, unknown))
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: props}, nil
	}
	stdout, stderr := "", ""
	if c := str(inputs, "create"); c != "" {
		stdout, stderr, err = run(ctx, inputs, c, nil)
		if err != nil {
			return nil, err
		}
	}
	props, err := marshal(withOutputs(inputs, resource.NewProperty(stdout), resource.NewProperty(stderr)))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: hex.EncodeToString(id), Properties: props}, nil
}

func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	stdout, stderr := olds["stdout"], olds["stderr"]
	if u := str(news, "update"); u != "" {
		if req.GetPreview() || hasUnknowns(news) {
			stdout = resource.MakeComputed(resource.NewProperty(""))
			stderr = stdout
		} else {
			env := []string{"PULUMI_COMMAND_STDOUT=" + str(olds, "stdout"), "PULUMI_COMMAND_STDERR=" + str(olds, "stderr")}
			o, e, err := run(ctx, news, u, env)
			if err != nil {
				return nil, err
			}
			stdout, stderr = resource.NewProperty(o), resource.NewProperty(e)
		}
	}
	props, err := marshal(withOutputs(news, stdout, stderr))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if d := str(state, "delete"); d != "" {
		env := []string{"PULUMI_COMMAND_STDOUT=" + str(state, "stdout"), "PULUMI_COMMAND_STDERR=" + str(state, "stderr")}
		if _, _, err := run(ctx, state, d, env); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(version)
		return
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, &provider{})
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
