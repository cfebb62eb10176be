using Hvrt.Layout;
using Hvrt.Sync;

namespace Hvrt.Machine;

internal sealed unsafe partial class Vm
{
    /// <summary>The VM's registered readers; their records are freed with the VM (FreeNative).</summary>
    public ReaderRegistry Readers { get; } = new();

    /// <summary>
    /// hvrt_vm_destroy and hvrt_vm_destroy_checked. From a conversion listener of this VM (the
    /// converting thread holds the lock and is walking the VM's state): -EDEADLK, nothing
    /// freed. checkReaders: -EBUSY while a reader (a vCPU's included) is registered, since
    /// destroying frees the records those threads still use. Else destroys and returns 0.
    /// </summary>
    public int TryDestroy(bool checkReaders)
    {
        lock (_lock)
        {
            if (InCallback)
            {
                return -Errno.EDEADLK;
            }
            if (checkReaders && ReaderRegistry.CountRegistered(&_handle->Grace) != 0)
            {
                return -Errno.EBUSY;
            }
            Destroy();
            return 0;
        }
    }
}
