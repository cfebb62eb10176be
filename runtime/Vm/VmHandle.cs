using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Sync;

namespace Hvrt.Machine;

/// <summary>
/// What an <c>hvrt_vm *</c> points to: the read side (<see cref="VmLayout"/>: the published
/// snapshots, the attribute store's root; the first 48 bytes are hvrt_inline.h's), then the
/// registered readers' grace-period domain, on a cache line of its own so that a writer's
/// counter bump does not invalidate the line every translation reads. Native memory; the
/// writer's state lives in a managed <see cref="Vm"/> reached through <see cref="VmLayout.Managed"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 128)]
internal unsafe struct VmHandle
{
    public VmLayout Read;
    public GraceDomain Grace;

    /// <summary>The handle a reader record or a vCPU points to (its <see cref="Read"/> is the first field).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VmHandle* Of(VmLayout* vm) => (VmHandle*)vm;

    /// <summary>The grace-period domain of the VM a reader record points to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static GraceDomain* GraceOf(VmLayout* vm) => &((VmHandle*)vm)->Grace;

    public static bool IsLive(VmHandle* vm) => vm != null && vm->Read.Magic == VmLayout.LiveMagic;

    /// <summary>NULL → -EFAULT (like a bad user pointer); not a live VM → -EBADF (like a bad fd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Check(VmHandle* vm)
    {
        if (vm == null)
        {
            return -Errno.EFAULT;
        }
        return vm->Read.Magic == VmLayout.LiveMagic ? 0 : -Errno.EBADF;
    }
}
