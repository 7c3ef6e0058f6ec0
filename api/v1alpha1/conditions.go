package v1alpha1

// Condition types. Every CR carries Ready from its first reconcile (False or Unknown until it is true), so a
// GitOps tool can tell the CR reports readiness before it becomes ready; every condition carries the
// generation it was computed from.
const (
	// ConditionReady is True when the object does what its spec asks. Set on every reconcile by every
	// controller; it is the summary the printer column and health checks read.
	ConditionReady = "Ready"

	// ConditionAvailable (KeyManager) is True when at least the PodDisruptionBudget's minimum of server pods
	// is ready, i.e. the service answers. Set from the Deployment's status.
	ConditionAvailable = "Available"

	// ConditionProgressing (KeyManager) is True while the Deployment rolls out a new pod template or a
	// migration Job runs; False once every replica runs the current template.
	ConditionProgressing = "Progressing"

	// ConditionDegraded (KeyManager) is True when something needs a person: a referenced object is missing,
	// the migration Job failed, a server pod fails to start (reason PodsFailing, with the pod, the container
	// and the last line of its log), or the rollout exceeded its progress deadline. Cleared when the cause is
	// gone.
	ConditionDegraded = "Degraded"

	// ConditionDatabaseMigrated (KeyManager) is True once `keymanager manage db upgrade` succeeded for the
	// current image and schema revision. It turns False (reason MigrationRunning) when the image changes,
	// and stays False with reason MigrationFailed when the Job fails; the Deployment is not rolled onto a new
	// image before it is True.
	ConditionDatabaseMigrated = "DatabaseMigrated"

	// ConditionWorkersCapped (KeyManager) is True when the HSM connection budget of a referenced HSMBackend
	// grants fewer workers per replica than spec.workers asks; the message says how many. False when the
	// request fits, or when the KeyManager uses no HSM.
	ConditionWorkersCapped = "WorkersCapped"

	// ConditionKeysReady (HSMBackend) is True once the ensure-keys Job found or generated the active MKEK and
	// HMAC key. It turns False (reason KeysJobRunning) when the active labels change and stays False with
	// reason KeysJobFailed when the Job fails.
	ConditionKeysReady = "KeysReady"

	// ConditionConnectionsAllocated (HSMBackend) is True when every KeyManager using the backend got the
	// workers it asked for, False (reason WorkersCapped) when the budget had to cap someone.
	ConditionConnectionsAllocated = "ConnectionsAllocated"
)

// Condition reasons, shared by the controllers so that a reason means the same on every kind.
const (
	ReasonReconciling        = "Reconciling"
	ReasonAvailable          = "Available"
	ReasonRollingOut         = "RollingOut"
	ReasonRolledOut          = "RolledOut"
	ReasonProgressDeadline   = "ProgressDeadlineExceeded"
	ReasonUnavailable        = "Unavailable"
	ReasonReferenceNotFound  = "ReferenceNotFound"
	ReasonInvalidReference   = "InvalidReference"
	ReasonMigrationRunning   = "MigrationRunning"
	ReasonMigrationFailed    = "MigrationFailed"
	ReasonMigrated           = "Migrated"
	ReasonWorkersCapped      = "WorkersCapped"
	ReasonWorkersGranted     = "WorkersGranted"
	ReasonNoHSM              = "NoHSM"
	ReasonKeysJobRunning     = "KeysJobRunning"
	ReasonKeysJobFailed      = "KeysJobFailed"
	ReasonKeysPresent        = "KeysPresent"
	ReasonAsExpected         = "AsExpected"
	ReasonRotationInProgress = "RotationInProgress"
	ReasonRotationBlocked    = "RotationBlocked"
	ReasonRotationSucceeded  = "RotationSucceeded"
	ReasonRotationFailed     = "RotationFailed"
	ReasonBudgetExhausted    = "BudgetExhausted"
	// ReasonPodsFailing (KeyManager Degraded and Ready): a server pod's container or init container
	// crash-loops, cannot pull its image, cannot be created, or an init container exited with an error.
	ReasonPodsFailing = "PodsFailing"
)
