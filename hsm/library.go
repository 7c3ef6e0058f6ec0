package hsm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// A PKCS#11 library is process-wide state: C_Initialize once, C_Finalize once, and a second C_Initialize
// answers CKR_CRYPTOKI_ALREADY_INITIALIZED. Modules of one library therefore share one library value, counted,
// and the last to close finalises it.
var (
	librariesMu sync.Mutex
	libraries   = map[string]*library{}
)

type library struct {
	path      string
	osLocking bool
	ctx       *pkcs11.Ctx
	refs      int
}

func acquireLibrary(path string, osLocking bool) (*library, error) {
	librariesMu.Lock()
	defer librariesMu.Unlock()
	if l, ok := libraries[path]; ok {
		if l.osLocking != osLocking {
			return nil, fmt.Errorf("PKCS#11 library %s is already initialised with OS locking %t", path, l.osLocking)
		}
		l.refs++
		return l, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("loading the PKCS#11 library %s failed (missing file, or not a PKCS#11 module)", path)
	}
	l := &library{path: path, osLocking: osLocking, ctx: ctx, refs: 1}
	if err := l.initialize(); err != nil {
		ctx.Destroy()
		return nil, err
	}
	libraries[path] = l
	return l, nil
}

func (l *library) initialize() error {
	var flags uint
	if l.osLocking {
		flags = pkcs11.CKF_OS_LOCKING_OK
	}
	err := l.ctx.Initialize(pkcs11.InitializeWithFlags(flags))
	if err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("initialising the PKCS#11 library %s: %w", l.path, err)
	}
	return nil
}

// restart finalises and initialises the library again, which is what brings most vendor clients back after a
// lost connection; with other Modules on the library it does nothing, since their sessions would go too.
// It reports whether it finalised the library.
func (l *library) restart() (bool, error) {
	librariesMu.Lock()
	defer librariesMu.Unlock()
	if l.refs > 1 {
		return false, nil
	}
	if err := l.ctx.Finalize(); err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		return false, fmt.Errorf("finalising the PKCS#11 library %s: %w", l.path, err)
	}
	return true, l.initialize()
}

func (l *library) release() error {
	librariesMu.Lock()
	defer librariesMu.Unlock()
	l.refs--
	if l.refs > 0 {
		return nil
	}
	delete(libraries, l.path)
	err := l.ctx.Finalize()
	l.ctx.Destroy()
	if err != nil && !isRV(err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
		return fmt.Errorf("finalising the PKCS#11 library %s: %w", l.path, err)
	}
	return nil
}

// isRV reports whether err is the PKCS#11 return value rv.
func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// What a failed operation calls for before its one retry.
type recovery int

const (
	recoverNone    recovery = iota
	recoverHandles          // a cached handle is stale: look master keys and pKEKs up again
	recoverModule           // the session or the token is gone: re-initialise
)

// recoveryFor says what err calls for. Barbican retries every operation once after a full re-initialisation;
// keymanager re-initialises for session and token errors only, and for a stale object handle (a master key
// deleted and made again) only forgets its handles. CKR_GENERAL_ERROR calls for nothing: SoftHSM2 answers a
// GCM tag mismatch with it, and a bad ciphertext must not restart the library.
func recoveryFor(err error) recovery {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return recoverNone
	}
	switch uint(e) {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_SESSION_COUNT,
		pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_DEVICE_MEMORY,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
		pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_SLOT_ID_INVALID:
		return recoverModule
	case pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID:
		return recoverHandles
	}
	return recoverNone
}
