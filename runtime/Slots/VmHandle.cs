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
    /// 0 until the first page of this VM is made private; then 1 for good. While 0, translations
    /// skip the attribute store (and the inline C path needs no call).
    /// </summary>
    public int PrivatePagesInUse;
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
