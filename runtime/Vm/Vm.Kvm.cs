using Hvrt.Kvm;
using Hvrt.Layout;

namespace Hvrt.Machine;

/// <summary>The VM's side of its KVM binding (<see cref="KvmBinding"/>): the lock, then the binding.</summary>
internal sealed unsafe partial class Vm
{
    /// <summary>The binding to a KVM VM fd; unbound (fd -1) until hvrt_kvm_bind. Used under the lock.</summary>
    public KvmBinding Kvm { get; } = new();

    /// <summary>The KVM VM fd this VM is bound to, or -1.</summary>
    public int BoundKvmFd => Kvm.Fd;

    /// <summary>What KVM offered at the bind, or null while unbound.</summary>
    public KvmCaps? BoundKvmCaps => Kvm.Caps;

    /// <summary>hvrt_kvm_bind: the arguments, then under the lock (-EDEADLK from a listener) the bind.</summary>
    public int BindKvm(int fd, uint flags)
    {
        int r = KvmBinding.CheckBindArgs(fd, flags);
        if (r != 0)
        {
            return r;
        }
        lock (_lock)
        {
            if (InCallback)
            {
                return -Errno.EDEADLK;
            }
            return Kvm.Bind(fd, flags, Rules.NrAddressSpaces, DirtyLogMode, _sets, Attributes);
        }
    }

    /// <summary>The bound fd and caps, or -ENODEV while unbound.</summary>
    public int GetKvmBinding(out int fd, out KvmCaps? caps)
    {
        lock (_lock)
        {
            fd = Kvm.Fd;
            caps = Kvm.Caps;
        }
        return fd < 0 ? -Errno.ENODEV : 0;
    }

    /// <summary>hvrt_create_guest_memfd: the new fd or -errno (-ENODEV while unbound).</summary>
    public int CreateGuestMemfd(ulong size, ulong flags, void** shared)
    {
        int r = GetKvmBinding(out int fd, out KvmCaps? caps);
        return r != 0 ? r : KvmGuestMemfd.Create(fd, caps!, size, flags, shared);
    }
}
