using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Index;
using Hvrt.Sync;

namespace Hvrt.Slots;

/// <summary>
/// What an <c>hvrt_vm *</c> points to: the native part of a VM that readers use without touching
/// managed state — one published snapshot per address space (struct hvrt_vm_layout in
/// hvrt_inline.h), the registered readers' grace-period counter and their records.
/// The writer's state lives in a managed <see cref="Vm"/> reached through a GCHandle.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal unsafe struct VmHandle
{
    /// <summary>"hvrt-vm\0"; cleared on destroy so a stale handle is refused with -EBADF.</summary>
    public const ulong LiveMagic = 0x006d762d74727668;

    public const int MaxAddressSpaces = 2;

    public ulong Magic;
    public nint Managed;
    /// <summary>
    /// The address spaces hvrt_inline.h may translate by itself: the VM's number while it has no
    /// private page, 0 for good from the first one (the answer then needs the attribute store).
    /// One field for both, so the inline path pays one compare, the one it had for as_id.
    /// </summary>
    public uint InlineAsLimit;

    /// <summary>True once a page of this VM has been made private.</summary>
    public static bool PrivatePagesInUse(VmHandle* vm) => Volatile.Read(ref vm->InlineAsLimit) == 0;
    public uint NrAddressSpaces;
    public Snapshot* Current0;
    public Snapshot* Current1;
    /// <summary>Unique per VM in this process (never reused), so per-thread caches can key on it safely.</summary>
    public ulong Serial;

    /// <summary>Grace-period counter of registered readers (GracePeriod); 0 until the first registration.</summary>
    public ulong GpCounter;

    /// <summary>Every reader record of this VM (ReaderRegistry): a list that only grows until destroy.</summary>
    public ReaderRecord* Readers;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Snapshot* Load(VmHandle* vm, uint asId)
    {
        // Acquire: pairs with the release in Publish, so the snapshot's contents are visible.
        return (Snapshot*)Volatile.Read(ref *(asId == 0 ? (nint*)&vm->Current0 : (nint*)&vm->Current1));
    }

    public static Snapshot* Publish(VmHandle* vm, uint asId, Snapshot* next)
    {
        ref nint slot = ref *(asId == 0 ? (nint*)&vm->Current0 : (nint*)&vm->Current1);
        // Release: every store that built `next` happens before a reader can load the pointer.
        return (Snapshot*)Interlocked.Exchange(ref slot, (nint)next);
    }

    public static bool IsLive(VmHandle* vm) => vm != null && vm->Magic == LiveMagic;
}
