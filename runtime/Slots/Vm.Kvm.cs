namespace Hvrt.Slots;

internal sealed unsafe partial class Vm
{
    /// <summary>The KVM VM fd this VM is bound to (hvrt_kvm_bind), or -1. Set under the VM lock.</summary>
    public int BoundKvmFd { get; private set; } = -1;
}
