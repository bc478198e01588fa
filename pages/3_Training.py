"""Training: train a model on Landslide4Sense-style data, watch it live, compare runs, promote."""
from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import finetune_panel, state, training, ui
from dashboard.errors import show_error
from dashboard.i18n import t
from landslide_core.bands import BAND_SETS, SCALINGS
from landslide_core.training import TrainConfig, runs
from landslide_core.training.config import parse_arch_kwargs
from landslide_core.training.evaluate import run_preview
from landslide_core.training.promote import promote
from landslide_core.zoo import TRAINABLE

ui.page_setup("Training")
ss = st.session_state
RUN_SELECT = "tr_run_select"  # the run shown (its folder name)
REFRESH_S = 3.0

st.title(t("train.title"))
st.caption(t("train.caption", folder=str(runs.runs_root().resolve())))

# ---------------------------------------------------------------- settings
st.subheader(t("train.data"))
defaults = TrainConfig()
training.recipe_picker()
training.practice_data()
c1, c2 = st.columns(2, gap="medium")
with c1:
    data_dir = st.text_input(t("train.data_folder"), key="tr_data", placeholder="/data/Landslide4Sense",
                             help=t("train.data_folder_help"))
    band_set = st.selectbox(t("train.band_set"), list(BAND_SETS), key="tr_bands",
                            format_func=lambda k: f"{k}: {', '.join(BAND_SETS[k])}")
    arch = st.selectbox(t("train.arch"), list(TRAINABLE), key="tr_arch")
    scaling = st.selectbox(t("train.scaling_label"), list(SCALINGS), key="tr_scaling",
                           format_func=lambda s: t(f"train.scaling.{s}") if s in ("l4s", "minmax") else s,
                           help=t("train.scaling_help"))
    epochs = st.number_input(t("train.epochs"), 1, 1000, key="tr_epochs")
with c2:
    alpha = st.slider(t("train.alpha"), 0.0, 1.0, defaults.alpha, 0.05, key="tr_alpha", help=t("train.alpha_help"))
    beta = st.number_input(t("train.beta"), 0.1, 100.0, defaults.beta, 0.5, key="tr_beta", help=t("train.beta_help"))
    batch_size = st.number_input(t("train.batch"), 1, 512, key="tr_batch")
    lr = st.number_input(t("train.lr"), 1e-6, 1.0, defaults.lr, 1e-4, format="%.5f", key="tr_lr")
with st.expander(t("train.more")):
    m1, m2, m3 = st.columns(3)
    patience = m1.number_input(t("train.patience"), 1, 1000, key="tr_patience")
    seed = m2.number_input(t("train.seed"), 0, 2**31 - 1, defaults.seed, key="tr_seed")
    device = m3.selectbox(t("train.device"), ["auto", "cpu", "cuda"], key="tr_device")
    arch_kwargs_text = m1.text_input(t("train.arch_kwargs"), key="tr_arch_kwargs",
                                     placeholder='{"base_channels": 16}', help=t("train.arch_kwargs_help"))
    val_share = m2.slider(t("train.val_share"), 0.05, 0.5, defaults.val_share, 0.05, key="tr_val_share")
    skip_bad = m3.checkbox(t("train.skip_bad"), key="tr_skip_bad")

if st.button(t("train.launch"), type="primary", key="tr_launch", icon=":material/play_arrow:"):
    try:
        config = TrainConfig(
            data_dir=data_dir.strip(), arch=arch, bands=band_set, epochs=int(epochs), batch_size=int(batch_size),
            lr=float(lr), alpha=float(alpha), beta=float(beta), patience=int(patience), seed=int(seed),
            device=device, arch_kwargs=parse_arch_kwargs(arch_kwargs_text), val_share=float(val_share),
            on_bad="skip" if skip_bad else "stop", scaling=scaling)
        launched = runs.launch_detached(config)
        ss[RUN_SELECT] = launched.run_dir.name
        st.success(t("train.started", run=launched.run_dir.name, pid=launched.pid), icon=":material/rocket_launch:")
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
        show_error(exc)

finetune_panel.section()  # fine-tune an existing model on reviewed chips (dashboard/finetune_panel.py)

# ---------------------------------------------------------------- runs
st.subheader(t("train.runs"))
infos = runs.list_runs()
if not infos:
    st.info(t("train.no_runs"))
    st.stop()

training.runs_table(any(i.status is not None and i.status.state in ("queued", "running") for i in infos))
names = [i.run_id for i in infos]
if ss.get(RUN_SELECT) not in names:
    ss[RUN_SELECT] = names[0]
chosen = st.selectbox(t("train.run_to_show"), names, key=RUN_SELECT)
run_dir = next(i.run_dir for i in infos if i.run_id == chosen)
first_status = runs.current_status(run_dir)
active = first_status is not None and first_status.state in ("queued", "running")


def _loss_figure(df: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for col, dash in (("train_loss", "dash"), ("val_loss", "solid"), ("train_wce", "dash"), ("val_wce", "solid"),
                      ("train_dice", "dash"), ("val_dice", "solid")):
        fig.add_trace(go.Scatter(x=df["epoch"], y=df[col], name=t(f"train.curve.{col}"), mode="lines+markers",
                                 line={"dash": dash}))
    fig.update_layout(title=t("train.losses"), xaxis_title=t("train.epoch"), yaxis_title=t("train.loss"),
                      height=340, margin={"t": 40, "b": 30})
    return fig


def _metrics_figure(df: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for col, name in (("val_f1", "F1"), ("val_precision", t("train.precision")), ("val_recall", t("train.recall")),
                      ("val_iou", "IoU")):
        fig.add_trace(go.Scatter(x=df["epoch"], y=df[col], name=name, mode="lines+markers"))
    fig.update_layout(title=t("train.val_metrics"), xaxis_title=t("train.epoch"),
                      yaxis_range=[0, 1], height=340, margin={"t": 40, "b": 30})
    return fig


@st.fragment(run_every=REFRESH_S if active else None)
def live_panel(run_dir, was_active: bool) -> None:
    """Status, charts and the stop button; refreshes itself while the run goes."""
    status = runs.current_status(run_dir)
    if status is None:
        st.warning(t("train.no_status"))
        return
    now_active = status.state in ("queued", "running")
    if was_active and not now_active:
        st.rerun()  # the run ended: redraw the whole page (promote, predictions)
    eta = t("train.eta", minutes=f"{status.eta_s / 60:.1f}") if now_active and status.eta_s else ""
    beat = (t("train.heartbeat", seconds=f"{time.time() - status.heartbeat:.0f}")
            if now_active and status.heartbeat else "")
    st.markdown(f"**{t('train.state.' + status.state) if status.state in training.RUN_STATES else status.state}** · "
                + t("train.epoch_of", epoch=status.epoch, total=status.total_epochs)
                + (t("train.batch_of", batch=status.batch, total=status.total_batches)
                   if status.state == "running" and status.batch else "")
                + f"{eta}{beat} · {status.message}")
    if status.state == "failed" and status.error:
        st.error(status.error, icon=":material/error:")
    rows = runs.read_metrics(run_dir)
    if rows:
        df = pd.DataFrame(rows)
        a, b = st.columns(2)
        a.plotly_chart(_loss_figure(df), width="stretch", key="tr_chart_loss")
        b.plotly_chart(_metrics_figure(df), width="stretch", key="tr_chart_metrics")
    elif now_active:
        st.info(t("train.charts_later"))
    if now_active and st.button(t("train.stop"), key="tr_stop", icon=":material/stop:"):
        runs.request_stop(run_dir)
        st.info(t("train.stop_requested"))


live_panel(run_dir, active)

if not active and first_status is not None and first_status.state in ("failed", "stopped"):
    if st.button(t("train.resume"), key="tr_resume", icon=":material/replay:"):
        try:
            config = runs.read_config(run_dir)
            launched = runs.launch_detached(config, run_dir)
            st.success(t("train.resumed", pid=launched.pid))
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            show_error(exc)

# ---------------------------------------------------------------- predictions and promotion
best_weights = run_dir / f"{runs.BEST}.safetensors"
if best_weights.exists():
    st.subheader(t("train.predictions"))

    @st.cache_data(max_entries=8, show_spinner=False)
    def _previews(folder: str, mtime: float):  # noqa: ARG001 - mtime is the cache key
        return run_preview(folder, count=4)

    try:
        with st.spinner(t("train.predicting")):
            previews = _previews(str(run_dir), best_weights.stat().st_mtime)
        for p in previews:
            true_share, pred_share = p.landslide_share
            c_img, c_mask, c_prob = st.columns(3)
            c_img.image(p.rgb, caption=t("train.preview_rgb", name=p.name), width="stretch")
            c_mask.image(p.mask_image, caption=t("train.preview_mask", share=f"{true_share:.1%}"), width="stretch")
            c_prob.image(p.probability_image, caption=t("train.preview_pred", share=f"{pred_share:.1%}"),
                         width="stretch")
    except Exception as exc:  # noqa: BLE001
        show_error(exc)

    st.subheader(t("train.promote_title"))
    if active:
        st.info(t("train.promote_later"))
    else:
        models_folder = state.models_dir()
        name = st.text_input(t("train.model_name"), value=chosen, key=f"tr_promote_name_{chosen}",
                             help=t("train.model_name_help", folder=str(models_folder)))
        if st.button(t("train.promote"), key="tr_promote", icon=":material/upgrade:"):
            try:
                card_path = promote(run_dir, name.strip(), models_folder)
                st.success(t("train.promoted", name=card_path.stem, folder=str(models_folder)),
                           icon=":material/check_circle:")
            except Exception as exc:  # noqa: BLE001
                show_error(exc)
