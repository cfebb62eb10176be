namespace Hvrt.Slots;

internal sealed unsafe partial class Vm
{
    /// <summary>hvrt_dirty_log_set_mode's value (HVRT_DIRTY_LOG_*); hvrt_kvm_bind enables it on KVM too.</summary>
    public uint DirtyLogMode { get; private set; }
}
