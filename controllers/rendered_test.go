package controllers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
)

// Pods do not run on envtest, so these tests run what the controller rendered: the container's args and
// environment (ConfigMap envFrom, Secret keys, $(VAR) expansion as the kubelet does it) and its mounted
// Secrets and ConfigMaps laid out under a temporary root with the rendered file modes, executed with the
// real keymanager binary against MariaDB. A rendered spec that would fail in a pod fails here.

func buildKeymanager(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keymanager")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/keymanager-io/keymanager")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building keymanager: %v\n%s", err, out)
	}
	return bin
}

// podRun is a container ready to execute: its argv, environment and root directory of its mounts.
type podRun struct {
	args []string
	env  []string
	root string
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// render resolves container c of pod spec in namespace ns the way the kubelet would.
func (e *env) render(ns string, pod corev1.PodSpec, c corev1.Container) podRun {
	e.t.Helper()
	return e.renderIn(e.t.TempDir(), ns, pod, c)
}

// renderIn is render with the pod's root given: the containers of one pod (its init containers and the
// main one) share root, where each emptyDir is one directory whatever the path it is mounted at.
func (e *env) renderIn(root, ns string, pod corev1.PodSpec, c corev1.Container) podRun {
	e.t.Helper()
	vars := map[string]string{}
	var order []string
	setVar := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			e.t.Fatalf("unsupported envFrom %+v", from)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: from.ConfigMapRef.Name}}
		if err := e.get(cm); err != nil {
			e.t.Fatalf("envFrom ConfigMap %s: %v (the pod would not start)", cm.Name, err)
		}
		keys := make([]string, 0, len(cm.Data))
		for k := range cm.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			setVar(k, cm.Data[k])
		}
	}
	for _, ev := range c.Env {
		switch {
		case ev.ValueFrom == nil:
			setVar(ev.Name, varRef.ReplaceAllStringFunc(ev.Value, func(ref string) string {
				if v, ok := vars[ref[2:len(ref)-1]]; ok {
					return v
				}
				return ref // the kubelet leaves unknown references as they are
			}))
		case ev.ValueFrom.SecretKeyRef != nil:
			ref := ev.ValueFrom.SecretKeyRef
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ref.Name}}
			if err := e.get(s); err != nil {
				e.t.Fatalf("env %s: Secret %s: %v (the pod would not start)", ev.Name, ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				e.t.Fatalf("env %s: Secret %s has no key %s (the pod would not start)", ev.Name, ref.Name, ref.Key)
			}
			setVar(ev.Name, string(v))
		default:
			e.t.Fatalf("unsupported env source for %s", ev.Name)
		}
	}

	mounts := slices.Clone(c.VolumeMounts)
	for _, m := range mounts {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			e.t.Fatalf("volume mount %s has no volume", m.Name)
		}
		if v := pod.Volumes[i]; v.EmptyDir != nil {
			// One directory per emptyDir under root, linked from each container's mount path.
			dir, link := filepath.Join(root, ".volumes", v.Name), filepath.Join(root, m.MountPath)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				e.t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				e.t.Fatal(err)
			}
			if _, err := os.Lstat(link); err != nil {
				if err := os.Symlink(dir, link); err != nil {
					e.t.Fatal(err)
				}
			}
			continue
		}
		e.layOut(ns, pod.Volumes[i], filepath.Join(root, m.MountPath))
	}
	// The kubelet mounts the termination message file (terminationMessagePath, defaulted by the API server)
	// writable into every container: an empty file under root stands in for it.
	if p := c.TerminationMessagePath; p != "" {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o666); err != nil { //nolint:gosec // as the kubelet makes it
			e.t.Fatal(err)
		}
		mounts = append(mounts, corev1.VolumeMount{Name: "termination-log", MountPath: p})
	}
	// Paths in the environment and the arguments point into the mounts: move them under root, longest mount
	// path first.
	slices.SortFunc(mounts, func(a, b corev1.VolumeMount) int { return len(b.MountPath) - len(a.MountPath) })
	underRoot := func(v string) string {
		for _, m := range mounts {
			if v == m.MountPath || strings.HasPrefix(v, m.MountPath+"/") {
				return filepath.Join(root, v)
			}
		}
		return v
	}
	var env []string
	for _, k := range order {
		env = append(env, k+"="+underRoot(vars[k]))
	}
	args := slices.Concat(c.Command, c.Args)
	for i := range args {
		args[i] = underRoot(args[i])
	}
	return podRun{args: args, env: env, root: root}
}

func (e *env) layOut(ns string, v corev1.Volume, dir string) {
	e.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	write := func(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, fallback int32) {
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				e.t.Fatalf("volume %s: no key %s (the pod would not start)", v.Name, it.Key)
			}
			mode := ptr.Deref(it.Mode, ptr.Deref(defaultMode, fallback))
			p := filepath.Join(dir, it.Path)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				e.t.Fatal(err)
			}
			if err := os.Chmod(p, os.FileMode(mode)); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	switch {
	case v.EmptyDir != nil:
	case v.Secret != nil:
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v.Secret.SecretName}}
		if err := e.get(s); err != nil {
			e.t.Fatalf("volume %s: %v", v.Name, err)
		}
		write(s.Data, v.Secret.Items, v.Secret.DefaultMode, 0o644)
	case v.ConfigMap != nil:
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v.ConfigMap.Name}}
		if err := e.get(cm); err != nil {
			e.t.Fatalf("volume %s: %v", v.Name, err)
		}
		data := map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		write(data, v.ConfigMap.Items, v.ConfigMap.DefaultMode, 0o644)
	default:
		e.t.Fatalf("unsupported volume %s", v.Name)
	}
}

func (p podRun) command(ctx context.Context, bin string, extraEnv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, p.args...)
	cmd.Dir = p.root
	// Only what the pod would have, plus PATH for nothing in particular.
	cmd.Env = slices.Concat([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.root}, p.env, extraEnv)
	return cmd
}

func TestRenderedPodsRun(t *testing.T) {
	dbURL := testbed.NewMySQLDatabase(t)
	bin := buildKeymanager(t)
	e := startOperator(t)
	ns := e.namespace()

	db := e.database(ns, dbURL)
	e.secret(ns, "kek", map[string]string{"kek": testKEK})
	km := newKeyManager(ns, "kms", func(s *kmv1.KeyManagerSpec) {
		s.Database = db
	})
	e.create(km)

	job := e.migrationJob(km)
	run := e.render(ns, job.Spec.Template.Spec, job.Spec.Template.Spec.Containers[0])
	if out, err := run.command(t.Context(), bin).CombinedOutput(); err != nil {
		t.Fatalf("the migration Job's container failed: %v\n%s", err, out)
	}
	e.finishJob(job, true, "")

	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kms"}}
	e.eventually("Deployment", func() bool { return e.get(dep) == nil })
	run = e.render(ns, dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0])
	if fi, err := os.Stat(filepath.Join(run.root, kekFile)); err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("KEK file laid out as %v (%v), want mode 0400", fi.Mode(), err)
	}

	addr, logs := runServer(t, run, bin)
	// A secret stored through the rendered server is encrypted with the mounted KEK.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/v1/secrets",
		strings.NewReader(`{"payload":"hello","payload_content_type":"text/plain"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", "demo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("storing a secret answered %d\n%s", resp.StatusCode, logs())
	}

	t.Run("a server that refuses to start says why in its termination message", func(t *testing.T) {
		// Another KEK in the mounted file: the project KEK stored above no longer unwraps.
		other, err := simplecrypto.GenerateKEK()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(run.root, kekFile)
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(other.Encode()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		out, err := run.command(t.Context(), bin).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("the server did not refuse to start: %v\n%s", err, out)
		}
		// The container's status as the kubelet writes it under FallbackToLogsOnError: the log's last 80
		// lines, at most 2048 bytes of them (kubelet's MaxContainerTerminationMessageLogLines and …Length).
		lines := strings.SplitAfter(string(out), "\n")
		tail := strings.Join(lines[max(len(lines)-80, 0):], "")
		tail = tail[max(len(tail)-2048, 0):]
		status := corev1.ContainerStatus{Name: serverName, RestartCount: 1,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(exit.ExitCode()), Reason: "Error", Message: tail, //nolint:gosec // an exit status
			}}}
		msg := podFailureMessage([]corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "kms-0"},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{status}}}})
		want := "pod kms-0: container server CrashLoopBackOff (1 restart, last exit 1): ERROR: the configured Software Only Crypto KEKs do not unwrap 1 of 1 sampled project KEKs"
		if !strings.HasPrefix(msg, want) {
			t.Errorf("message %q\nwant it to begin with %q; the server's output:\n%s", msg, want, out)
		}
		if strings.Contains(msg, other.Encode()) || strings.Contains(msg, testKEK) {
			t.Error("the message quotes a KEK")
		}
	})

	t.Run("with Keystone auth", func(t *testing.T) {
		ks := testbed.StartKeystone(t)
		e := &env{t: t, c: e.c, cfg: e.cfg}
		e.secret(ns, "keystone", map[string]string{"password": testbed.KeystonePassword})
		km := newKeyManager(ns, "kms-keystone", func(s *kmv1.KeyManagerSpec) {
			s.Database = km.Spec.Database
			s.Auth = kmv1.Auth{Mode: kmv1.AuthModeKeystone, Keystone: &kmv1.KeystoneAuth{
				AuthURL: ks.URL, Username: testbed.KeystoneServiceUser, UserDomainName: "Default",
				ProjectName: testbed.KeystoneServiceProject, ProjectDomainName: "Default",
				PasswordSecretRef: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "keystone"}, Key: "password"},
			}}
		})
		e.create(km)
		e.finishJob(e.migrationJob(km), true, "") // the database was migrated above
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: km.Name}}
		e.eventually("Deployment", func() bool { return e.get(dep) == nil })
		addr, logs := runServer(t, e.render(ns, dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0]), bin)

		token, _ := ks.Token(t, "km-creator", "km-a")
		for _, tc := range []struct {
			token string
			want  int
		}{{"", http.StatusUnauthorized}, {token, http.StatusCreated}} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/v1/secrets",
				strings.NewReader(`{"payload":"hello","payload_content_type":"text/plain"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("X-Auth-Token", tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("storing a secret with token %v answered %d, want %d\n%s", tc.token != "", resp.StatusCode, tc.want, logs())
			}
		}
	})
}

// runServer starts the rendered server container and waits for /readyz. The pod listens on 0.0.0.0:9311;
// here a free loopback port stands in for the pod's own network.
func runServer(t *testing.T, run podRun, bin string, extraEnv ...string) (addr string, logs func() string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	server := run.command(ctx, bin, append([]string{"KEYMANAGER_LISTEN=" + addr}, extraEnv...)...)
	var out syncBuffer
	server.Stdout, server.Stderr = &out, &out
	if err := server.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	// exited is closed when the server ends, with its error in waitErr, so both the probe loop and the
	// cleanup can wait for it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = server.Wait(); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited })

	for deadline := time.Now().Add(30 * time.Second); probe(addr, "/readyz") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("the server container exited: %v\n%s", waitErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never answered /readyz 200\n%s", out.String())
		}
	}
	if code := probe(addr, "/healthcheck"); code != http.StatusOK {
		t.Errorf("/healthcheck answered %d", code)
	}
	return addr, out.String
}

func probe(addr, path string) int {
	resp, err := http.Get("http://" + addr + path) //nolint:gosec,noctx // a test server on loopback
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// database creates the credentials Secret "db" in ns for the MariaDB at dbURL and returns the KeyManager's
// database settings that point at it.
func (e *env) database(ns, dbURL string) kmv1.Database {
	e.t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		e.t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		e.t.Fatal(err)
	}
	pass, _ := u.User.Password()
	e.secret(ns, "db", map[string]string{"username": u.User.Username(), "password": pass})
	return kmv1.Database{Host: u.Hostname(), Port: int32(port), Name: strings.TrimPrefix(u.Path, "/"),
		CredentialsSecretRef: corev1.LocalObjectReference{Name: "db"}}
}
