using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Memory;
using Hvrt.Platform;
using Hvrt.Slots;
using Hvrt.Sync;
using VmState = Hvrt.Machine.Vm;

namespace Hvrt.RunLoop;

/// <summary>
/// What an <c>hvrt_vcpu *</c> points to: native (NativeAlloc), used by one thread, the vCPU's.
/// Holds the VM, the KVM vCPU fd and its mapped kvm_run, the vCPU's registered reader and the
/// decoded last exit; plus the last memory fault hvrt resolved, so the same fault coming straight
/// back is an error and not an endless loop (<see cref="ExitHandler"/>).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Vcpu
{
    /// <summary>"hvrt-vcp": live; cleared on destroy so a stale pointer is refused with -EBADF.</summary>
    public const ulong LiveMagic = 0x7063762d74727668;

    /// <summary>
    /// "hvrt-vcd": live in debug mode (HVRT_DEBUG=1). Fails the exports' compare with
    /// <see cref="LiveMagic"/>, so only debug vCPUs take the checked path (thread checks).
    /// </summary>
    public const ulong DebugLiveMagic = 0x6463762d74727668;

    public ulong Magic;
    public VmHandle* Vm;
    public byte* Run;
    public ReaderRecord* Reader;
    public int Fd;

    /// <summary>The creating thread (<see cref="DebugThread"/>); set and checked in debug mode only.</summary>
    public ulong Owner;

    /// <summary>1 when the previous exit was a memory fault hvrt resolved (converted, or found already converted).</summary>
    public int PrevFault;
    public ulong PrevFaultGpa;
    public ulong PrevFaultSize;
    public ulong PrevFaultFlags;

    public HvrtExitInfo Info;

    /// <summary>Live, in either mode.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsLive(Vcpu* v) => v->Magic == LiveMagic || v->Magic == DebugLiveMagic;

    /// <summary>hvrt_vcpu_create after the argument checks: registers the reader, then allocates.</summary>
    public static int Create(VmHandle* vm, int fd, byte* run, out Vcpu* vcpu)
    {
        vcpu = null;
        if (fd >= 0)
        {
            int e = Libc.CheckOpen(fd);
            if (e != 0)
            {
                return -Errno.EBADF;
            }
        }
        ReaderRegistry readers = VmState.FromHandle(vm).Readers;
        int r = readers.Register(&vm->Grace, &vm->Read, out ReaderRecord* reader);
        if (r != 0)
        {
            return r;
        }
        var v = (Vcpu*)NativeAlloc.Alloc((nuint)sizeof(Vcpu));
        if (v == null)
        {
            readers.Unregister(reader);
            return -Errno.ENOMEM;
        }
        v->Vm = vm;
        v->Run = run;
        v->Reader = reader;
        v->Fd = fd;
        v->Info.Slot = uint.MaxValue;
        if (DebugMode.Enabled)
        {
            v->Owner = DebugThread.Current;
            ReaderGuard.SetOwner(reader, v->Owner);
            v->Magic = DebugLiveMagic;
        }
        else
        {
            v->Magic = LiveMagic;
        }
        vcpu = v;
        return 0;
    }

    /// <summary>
    /// Unregisters the reader and frees the record (debug mode: quarantines it). With the VM
    /// already destroyed its reader went with it; only debug mode can tell (the VM's block is
    /// still mapped), release mode reads freed memory here, which hvrt.h forbids.
    /// </summary>
    public static void Destroy(Vcpu* v)
    {
        v->Magic = 0;
        if (VmHandle.IsLive(v->Vm))
        {
            VmState.FromHandle(v->Vm).Readers.Unregister(v->Reader);
        }
        Quarantine.Retire(v, (nuint)sizeof(Vcpu));
    }
}
